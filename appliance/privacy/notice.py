"""The signage notice: a printable page, in Brazilian Portuguese or English, telling people they are filmed, by whom,
what for, how long the footage is kept and whom to ask (LGPD art. 9, GDPR art. 13), made from the config file's
`privacy:` section and each camera's retention (the same figures the guards' UI shows)."""
from __future__ import annotations

from html import escape

from vigia.appliance.config import Camera, Config, Storage

LANGUAGES = ("pt-BR", "en")


class NoticeError(ValueError):
    """The notice cannot be made; the message names the config field to fill in."""


def camera_retention(camera: Camera, storage: Storage) -> dict:
    """How long a camera's footage and events are kept (vigia.appliance.retention applies the same figures):
    `footage_days` (continuous recording; None when the camera records only around events or not at all),
    `event_days` (events with their clips and snapshots, by label, `default` for the others)."""
    return {"recording": camera.record.mode,
            "footage_days": camera.record.retain_days if camera.record.mode == "continuous" else None,
            "event_days": dict(storage.event_days)}


TEXT = {
    "en": {"title": "CCTV in operation", "lead": "This area is filmed by video cameras.",
           "controller": "Controller", "purpose": "Purpose", "basis": "Legal basis", "contact": "Contact",
           "retention": "How long images are kept", "footage": "{camera}: continuous footage {days} days",
           "events": "Events (with their clips and snapshots): {days} days",
           "label": "{label}: {days} days", "none": "{camera}: no continuous recording",
           "rights": "You may ask for access to, or erasure of, images of you (GDPR arts. 15 and 17) at the contact "
                     "above.", "lang": "en"},
    "pt-BR": {"title": "Ambiente monitorado por câmeras", "lead": "Esta área é filmada por câmeras de vídeo.",
              "controller": "Controlador", "purpose": "Finalidade", "basis": "Base legal", "contact": "Contato",
              "retention": "Por quanto tempo as imagens são guardadas",
              "footage": "{camera}: gravação contínua {days} dias",
              "events": "Eventos (com seus clipes e instantâneos): {days} dias",
              "label": "{label}: {days} dias", "none": "{camera}: sem gravação contínua",
              "rights": "Você pode pedir acesso às imagens em que aparece, ou a eliminação delas (LGPD art. 18), pelo "
                        "contato acima.", "lang": "pt-BR"},
}


def _days(value: float) -> str:
    return f"{value:g}"


def notice_html(config: Config, lang: str) -> str:
    """The notice as a standalone HTML page (prints on one A4 sheet). NoticeError names what is missing."""
    if lang not in LANGUAGES:
        raise NoticeError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    privacy = config.privacy
    if not (privacy.controller and privacy.purpose and privacy.contact):
        raise NoticeError("the config file's privacy section is not filled in: set privacy.controller, privacy.purpose "
                          "and privacy.contact (the notice names them)")
    text = TEXT[lang]
    purpose = privacy.purpose_pt if lang == "pt-BR" and privacy.purpose_pt else privacy.purpose
    events = config.storage.event_days
    retention = [text["footage"].format(camera=escape(c.name), days=_days(c.record.retain_days))
                 if c.record.mode == "continuous" else text["none"].format(camera=escape(c.name))
                 for c in config.cameras]
    retention.append(text["events"].format(days=_days(events.get("default", 30.0))))
    retention += [text["label"].format(label=escape(label), days=_days(days))
                  for label, days in sorted(events.items()) if label != "default"]
    rows = [(text["controller"], privacy.controller), (text["purpose"], purpose),
            *([(text["basis"], privacy.legal_basis)] if privacy.legal_basis else []), (text["contact"], privacy.contact)]
    items = "".join(f"<li>{line}</li>" for line in retention)
    table = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>" for name, value in rows)
    return f"""<!doctype html>
<html lang="{text['lang']}"><head><meta charset="utf-8"><title>{escape(text['title'])}</title>
<style>
@page {{ size: A4; margin: 15mm; }}
body {{ font-family: sans-serif; max-width: 180mm; margin: auto; color: #000; }}
h1 {{ font-size: 28pt; border-bottom: 4px solid #000; padding-bottom: 4mm; }}
.lead {{ font-size: 16pt; }}
th {{ text-align: left; padding: 2mm 6mm 2mm 0; vertical-align: top; }}
td, li {{ font-size: 13pt; }}
</style></head>
<body>
<h1>&#128249; {escape(text['title'])}</h1>
<p class="lead">{escape(text['lead'])}</p>
<table>{table}</table>
<h2>{escape(text['retention'])}</h2>
<ul>{items}</ul>
<p>{escape(text['rights'])}</p>
</body></html>
"""
