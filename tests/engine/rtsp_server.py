"""A local RTSP server for the live-stream tests, run with the system Python (GStreamer's
RTSP server comes from Debian packages: gir1.2-gst-rtsp-server-1.0, gstreamer1.0-rtsp,
gstreamer1.0-plugins-ugly for x264enc, python3-gi).

    /usr/bin/python3 tests/engine/rtsp_server.py PORT [WIDTHxHEIGHT]

Serves a live test picture (H.264, 30 fps, a keyframe every 15 frames) at
rtsp://127.0.0.1:PORT/live over TCP and UDP transports; prints "ready" on stdout once it
listens, and runs until killed. Exit status 3 when GStreamer or its RTSP server is missing.
"""

import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as exc:
    print(f"unavailable: {exc}", flush=True)
    sys.exit(3)


def main() -> int:
    port = sys.argv[1]
    w, h = (sys.argv[2] if len(sys.argv) > 2 else "320x180").split("x")
    Gst.init(None)
    if Gst.ElementFactory.find("x264enc") is None:
        print("unavailable: x264enc (gstreamer1.0-plugins-ugly)", flush=True)
        return 3
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={w},height={h},framerate=30/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/live", factory)
    if server.attach(None) == 0:
        print("unavailable: cannot listen", flush=True)
        return 4
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
