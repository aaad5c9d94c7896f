// The alert sound, made with the Web Audio API. Browsers keep audio suspended until the user
// interacts with the page; until then a beep is silently skipped (the banner still flashes).
let context: AudioContext | null = null;

function audioContext(): AudioContext | null {
  try {
    context ??= new AudioContext();
  } catch {
    return null; // no Web Audio here
  }
  return context;
}

/** Resume audio on the first click or key press, so later alerts can be heard. */
export function unlockAudioOnFirstGesture(): void {
  const unlock = () => {
    audioContext()
      ?.resume()
      .then(() => {
        window.removeEventListener("pointerdown", unlock);
        window.removeEventListener("keydown", unlock);
      })
      .catch(() => undefined);
  };
  window.addEventListener("pointerdown", unlock);
  window.addEventListener("keydown", unlock);
}

/** Three short high beeps. */
export function beep(): void {
  const audio = audioContext();
  if (!audio) return;
  if (audio.state !== "running") {
    audio.resume().catch(() => undefined);
    return;
  }
  const gain = audio.createGain();
  gain.connect(audio.destination);
  gain.gain.value = 0;
  const oscillator = audio.createOscillator();
  oscillator.type = "square";
  oscillator.frequency.value = 880;
  oscillator.connect(gain);
  const start = audio.currentTime + 0.01;
  for (let i = 0; i < 3; i++) {
    const at = start + i * 0.25;
    gain.gain.setValueAtTime(0.2, at);
    gain.gain.setValueAtTime(0, at + 0.15);
  }
  oscillator.start(start);
  oscillator.stop(start + 0.75);
  oscillator.onended = () => gain.disconnect();
}
