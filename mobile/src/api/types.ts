// The app's names for central's API types: aliases of the generated ones (schema.ts, `npm run api-types`), never
// hand-written copies.
import type { components, operations } from "./schema";

type Schemas = components["schemas"];
export type Alert = Schemas["Alert"];
export type Comment = Schemas["Comment"];
export type Me = Schemas["Me"];
export type Acknowledged = Schemas["Acknowledged"];
export type Device = Schemas["Device"];
export type Camera = Schemas["Camera"];
export type Event = Schemas["Event"];
export type Verdict = Schemas["Verdict"];
export type Clip = Schemas["Clip"];
export type AlertDetail = operations["getAlert"]["responses"]["200"]["content"]["application/json"];
export type EventDetail = operations["getEvent"]["responses"]["200"]["content"]["application/json"];
export type EventFilters = NonNullable<operations["listEvents"]["parameters"]["query"]>;
export type Page<T> = { items: T[]; next_cursor: string | null };
