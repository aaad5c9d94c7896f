// Names for the shapes of the appliance's /api/v1 JSON. The shapes themselves are generated from the OpenAPI
// document (local_ui/openapi.py) into schema.ts: change the document and run `npm run api-types`, never schema.ts.
import type { JsonBody, JsonReply } from "@vigia/web-common/api";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

export type Session = Schemas["Session"];
export type LoginChallenge = Schemas["LoginChallenge"];
export type Role = Session["role"];
export type SyncStatus = Schemas["SyncStatus"];
export type Camera = Schemas["Camera"];
export type ExportJob = Schemas["ExportJob"];
export type CameraState = Camera["state"];

// A layout as GET answers it: every field of its zones and rules present (a PUT may leave some out).
export type Zone = Required<Schemas["Layout"]["zones"][number]>;
export type Line = Schemas["Layout"]["lines"][number];
// The document gives one schema per rule kind; GET answers each rule flat, with every kind's fields (those
// its kind does not use null), and the editor keeps that shape so that a rule can change kind.
type RuleOfSomeKind = Schemas["Layout"]["rules"][number];
type KeyOfAny<T> = T extends unknown ? keyof T : never;
type ValueInAny<T, K extends PropertyKey> = T extends unknown ? (K extends keyof T ? Exclude<T[K], undefined> : never) : never;
export type RuleType = RuleOfSomeKind["type"];
export type Rule = { type: RuleType } & {
  [K in Exclude<keyof RuleOfSomeKind, "type">]-?: ValueInAny<RuleOfSomeKind, K>;
} & {
  [K in Exclude<KeyOfAny<RuleOfSomeKind>, keyof RuleOfSomeKind>]: ValueInAny<RuleOfSomeKind, K> | null;
};
// Privacy masks: never analysed, black in everything a person sees (a PUT without them keeps the camera's).
export type PrivacyMask = NonNullable<Schemas["Layout"]["privacy_masks"]>[number];
export type Layout = Omit<Schemas["Layout"], "zones" | "rules" | "privacy_masks"> & {
  zones: Zone[];
  rules: Rule[];
  privacy_masks: PrivacyMask[];
};
export type Direction = NonNullable<Rule["direction"]>;
/** Normalised image coordinates: 0..1, origin top left. */
export type Point = Zone["polygon"][number];

export type VigiaEvent = Schemas["Event"];
export type EventDetail = Schemas["EventDetail"];
export type Comment = Schemas["Comment"];
export type EventPage = JsonReply<paths["/api/v1/events"]["get"]>;
export type EventFacets = JsonReply<paths["/api/v1/events/facets"]["get"]>;

export type Track = Schemas["Track"];
/** The JSON header of one binary live frame. */
export type FrameHeader = Schemas["FrameHeader"];

export type SetupStatus = Schemas["SetupStatus"];
export type DiscoveredCamera = Schemas["DiscoveredCamera"];
export type StreamProfile = Schemas["StreamProfile"];
export type ProbeResult = Schemas["ProbeResult"];
export type NewCamera = JsonBody<paths["/api/v1/setup/cameras"]["post"]>;
export type RecordMode = NewCamera["record"];
