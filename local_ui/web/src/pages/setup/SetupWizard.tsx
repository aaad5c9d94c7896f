import { useState } from "react";
import type { Session, SetupStatus } from "../../api/types";
import { t } from "../../i18n";
import { ZoneEditorPage } from "../zones/ZoneEditorPage";
import { CameraStep } from "./CameraStep";
import { CentralStep } from "./CentralStep";
import { ClaimStep } from "./ClaimStep";
import { ClockStep } from "./ClockStep";
import { DoneStep } from "./DoneStep";

export type Step = "claim" | "clock" | "camera" | "zones" | "central" | "done";
const STEPS: Step[] = ["claim", "clock", "camera", "zones", "central", "done"];

interface Props {
  setup: SetupStatus;
  /** Called with the new admin's session once the device is claimed. */
  onClaimed(session: Session): void;
  onDone(): void;
}

/** The setup wizard (#/setup): one screen per step; an unclaimed device starts at the claim, later visits at the clock. */
export function SetupWizard({ setup, onClaimed, onDone }: Props) {
  const [step, setStep] = useState<Step>(setup.state === "unclaimed" ? "claim" : "clock");
  const [timeZone, setTimeZone] = useState(setup.time_zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [camera, setCamera] = useState<string | null>(setup.cameras?.[0] ?? null);
  const visible = setup.state === "unclaimed" ? STEPS : STEPS.filter((s) => s !== "claim");
  const next = (after: Step) => setStep(STEPS[STEPS.indexOf(after) + 1] ?? "done");

  return (
    <section className="setup" data-testid="setup-step" data-step={step}>
      <ol className="setup-progress">
        {visible.map((s) => (
          <li key={s} aria-current={s === step ? "step" : undefined}>
            {t(`setup.step.${s}`)}
          </li>
        ))}
      </ol>
      {step === "claim" && (
        <ClaimStep
          device={setup.device}
          onClaimed={(session) => {
            onClaimed(session);
            next("claim");
          }}
        />
      )}
      {step === "clock" && (
        <ClockStep timeZone={timeZone} onTimeZone={setTimeZone} onNext={() => next("clock")} />
      )}
      {step === "camera" && (
        <CameraStep
          existing={camera}
          onAdded={(name) => {
            setCamera(name);
            next("camera");
          }}
          onSkip={() => next("camera")}
        />
      )}
      {step === "zones" && (
        <>
          {camera ? <ZoneEditorPage camera={camera} /> : <p className="notice">{t("setup.zones.noCamera")}</p>}
          <div className="setup-buttons">
            <button data-testid="setup-zones-next" type="button" className="button button--primary" onClick={() => next("zones")}>
              {t("setup.next")}
            </button>
          </div>
        </>
      )}
      {step === "central" && <CentralStep enrolled={setup.enrolled ?? false} timeZone={timeZone} onFinished={() => next("central")} />}
      {step === "done" && <DoneStep camera={camera} onDone={onDone} />}
    </section>
  );
}
