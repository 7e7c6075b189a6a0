"""An IP camera on 127.0.0.1 for the RTSP test: GStreamer's RTSP server plays a video file as a live H.264 stream.

    /usr/bin/python3 tests/integration/rtsp_camera.py VIDEO PORT     → rtsp://127.0.0.1:PORT/cam

Run by Debian's python3, not the project's virtualenv: GStreamer's bindings come from Debian's packages
(gir1.2-gst-rtsp-server-1.0 for the server, gstreamer1.0-libav for vtest.avi's MS-MPEG4 video), which scripts/setup.sh
test installs. Each client gets the video from its start, decoded and encoded to H.264 in real time as a camera does,
with a key frame every second so that a client that reconnects has a picture at once. Killing the process is
unplugging the camera. With `RTSP_CAMERA_CREDENTIALS=user:password` in its environment, the camera asks for them
(RTSP Basic authentication) and answers 401 without them. Not a test module: pytest never imports it.
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main(video: str, port: str) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{video}" ! avidemux ! decodebin ! videoconvert'
        " ! openh264enc bitrate=2000000 gop-size=10 ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    credentials = os.environ.get("RTSP_CAMERA_CREDENTIALS")
    if credentials:
        user, _, password = credentials.partition(":")
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        for permission in (
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
        ):
            permissions.add_permission_for_role("viewer", permission, True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print(f"serving rtsp://127.0.0.1:{port}/cam", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(*sys.argv[1:3])
