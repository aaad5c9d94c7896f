"""Footage: what each camera records, and what is made from it.

- `recorder`: a camera's packets remuxed into fragmented MP4 segments (the `recordings` rows of kind 'segment');
- `clips`: segments over a time window joined into one MP4 (the one place clips are assembled);
- `export`: a footage window as a plain MP4 for an operator (`vigia export`);
- `event_clips`: an event's clip, kept beside the footage, and the versions made while the event goes on;
- `reconcile`: the repair at start-up of what a crash left behind;
- `mp4`: what the recorder and clip assembly share.
"""
