"""Serve video files over RTSP, looping them forever, without re-encoding.

Runs under the system python (GStreamer via gi): ``/usr/bin/python3 rtsp_server.py --file F --port P``;
a camera with a main and a sub-stream is one server with two paths: ``--mount main=F1 --mount sub=F2``.
The pipeline is demux -> h264parse/h265parse -> rtph264pay/rtph265pay (the codec found by GStreamer's
discoverer), looped with segment seeks so that the RTP timestamps clients see keep increasing across
loops. Each path's media is shared by all its clients.
Prints ``ready rtsp://HOST:PORT/PATH`` on stdout once listening; SIGTERM/SIGINT stop it.
"""
from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstPbutils", "1.0")
from gi.repository import GLib, Gst, GstPbutils, GstRtspServer  # noqa: E402

# Verified to loop seamlessly; qtdemux (MP4) stalls after its first segment-seek pass.
DEMUXERS = {".avi": "avidemux", ".mkv": "matroskademux"}
CODECS = {"video/x-h264": "h264", "video/x-h265": "h265"}


def video_codec(file: Path) -> str:
    """"h264" or "h265": the codec of the file's first video stream."""
    info = GstPbutils.Discoverer.new(10 * Gst.SECOND).discover_uri(Gst.filename_to_uri(str(file)))
    streams = info.get_video_streams()
    kind = streams[0].get_caps().get_structure(0).get_name() if streams else None
    if kind not in CODECS:
        raise SystemExit(f"{file}: no H.264 or H.265 video stream (found {kind})")
    return CODECS[kind]


def launch_line(file: Path, codec: str = "h264") -> str:
    """The media pipeline for `file` (an H.264 or H.265 video in a container GStreamer can demux)."""
    demuxer = DEMUXERS.get(file.suffix.lower())
    if demuxer is None:
        raise SystemExit(f"unsupported container {file.suffix!r}; known: {', '.join(DEMUXERS)}")
    location = GLib.strescape(str(file))
    return (
        f'( filesrc location="{location}" ! {demuxer} name=demux demux.video_0 '
        f"! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )"
    )


@dataclass
class Timestamps:
    """Per-media state for restamping buffers so that time keeps going across loops."""

    segment: Gst.Segment | None = None
    new_pass: bool = True
    shift: int = 0  # ns added to this pass's buffer times
    end: int = 0  # running time where the last buffer ended

    def restamp(self, buffer: Gst.Buffer) -> None:
        """Give `buffer` a PTS if it lacks one and shift it to continue after the previous pass.

        AVI carries only decode times (rtph264pay stamps RTP packets from the PTS), and a
        non-flushing seek restarts running time where the last buffer began, not where it ended.
        """
        if buffer.pts == Gst.CLOCK_TIME_NONE:
            buffer.pts = buffer.dts
        if buffer.pts == Gst.CLOCK_TIME_NONE:
            return
        if self.new_pass:
            self.shift = max(0, self.end - self.segment.to_running_time(Gst.Format.TIME, buffer.pts))
            self.new_pass = False
        buffer.pts += self.shift
        if buffer.dts != Gst.CLOCK_TIME_NONE:
            buffer.dts += self.shift
        duration = 0 if buffer.duration == Gst.CLOCK_TIME_NONE else buffer.duration
        self.end = max(self.end, self.segment.to_running_time(Gst.Format.TIME, buffer.pts) + duration)


def play_like_a_camera(media: GstRtspServer.RTSPMedia) -> None:
    """Make `media` behave like a live camera: loop the file forever, ignore client seeks.

    Looping uses segment seeks: the demuxer ends each pass with SEGMENT_DONE instead of EOS and
    the next pass is a non-flushing seek, so running time (and the RTP timestamps) keeps growing.
    The media does not answer seeking queries, so the server treats it as unseekable and a
    client's PLAY with "Range: npt=0-" does not rewind the stream other clients share.
    """
    bin_ = media.get_element()
    demux = bin_.get_by_name("demux")
    timestamps = Timestamps()

    def seek_to_start(flags: Gst.SeekFlags) -> bool:
        flags |= Gst.SeekFlags.SEGMENT
        if not demux.seek(1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1):
            print(f"seek to start failed ({flags})", file=sys.stderr, flush=True)
        return GLib.SOURCE_REMOVE

    def on_pay_input(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        if info.type & Gst.PadProbeType.BUFFER:
            timestamps.restamp(info.get_buffer())
        elif info.type & Gst.PadProbeType.QUERY_UPSTREAM:
            if info.get_query().type == Gst.QueryType.SEEKING:
                return Gst.PadProbeReturn.DROP  # a failed seeking query: the media cannot seek
        else:
            event = info.get_event()
            if event.type == Gst.EventType.SEGMENT:
                timestamps.segment = event.parse_segment()
                timestamps.new_pass = True
            elif event.type == Gst.EventType.FLUSH_STOP:
                timestamps.end = 0  # a flushing seek restarts running time
            elif event.type == Gst.EventType.SEGMENT_DONE:
                GLib.idle_add(seek_to_start, Gst.SeekFlags.NONE)
        return Gst.PadProbeReturn.OK

    probes = Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.QUERY_UPSTREAM
    bin_.get_by_name("pay0").get_static_pad("sink").add_probe(probes, on_pay_input)
    media.connect("prepared", lambda _media: seek_to_start(Gst.SeekFlags.FLUSH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--path", default="demo")
    parser.add_argument("--mount", action="append", default=[], metavar="PATH=FILE", help="more paths, each its file")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    mounts = ([(args.path, args.file)] if args.file else []) + [
        (path, Path(file)) for path, _, file in (m.partition("=") for m in args.mount)]
    if not mounts:
        raise SystemExit("give --file or --mount PATH=FILE")
    for _path, file in mounts:
        if not file.is_file():
            raise SystemExit(f"no such file: {file}")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    for path, file in mounts:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(file.resolve(), video_codec(file.resolve())))
        factory.set_shared(True)
        factory.connect("media-configure", lambda _factory, media: play_like_a_camera(media))
        server.get_mount_points().add_factory(f"/{path}", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on {args.host}:{args.port}")

    main_loop = GLib.MainLoop()

    def quit_loop() -> bool:
        main_loop.quit()
        return GLib.SOURCE_REMOVE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, quit_loop)
    print(f"ready rtsp://{args.host}:{args.port}/{mounts[0][0]}", flush=True)
    main_loop.run()


if __name__ == "__main__":
    main()
