import { createRoot } from "react-dom/client";
import { App } from "./App";
import { language } from "./i18n";
import { unlockAudioOnFirstGesture } from "./lib/beep";
import "@vigia/web-common/base.css";
import "./styles.css";

document.documentElement.lang = language;
unlockAudioOnFirstGesture();

if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch((error: unknown) => console.warn("service worker not registered", error));
  });
}

createRoot(document.getElementById("root")!).render(<App />);
