"""Video sources: frame folders, video files, per-video errors, background prefetching."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from hmtools.errors import VideoError
from hmtools.video import VideoSource, file_frame_name, list_videos, open_video, prefetch


def write_avi(path, n_frames: int, size_hw=(32, 48)) -> None:
    h, w = size_hw
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    for i in range(n_frames):
        img = np.zeros((h, w, 3), np.uint8)
        img[:, : 4 + 4 * i] = (0, 0, 255)  # a red bar growing to the right (BGR)
        writer.write(img)
    writer.release()


def write_frames(folder, names, size_hw=(8, 12)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((*size_hw, 3), 10 * k, np.uint8))


def test_folder_keeps_names_in_natural_order(tmp_path):
    write_frames(tmp_path / "clip", ["img_10.png", "img_2.png", "img_1.png"])
    src = open_video(tmp_path / "clip")
    assert src.video_id == "clip" and not src.is_file
    frames = list(src.frames())
    assert [f.name for f in frames] == ["img_1.png", "img_2.png", "img_10.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[1].image_rgb.shape == (8, 12, 3) and frames[1].image_rgb.dtype == np.uint8


def test_file_counts_decoded_frames_and_returns_rgb(tmp_path):
    write_avi(tmp_path / "v.avi", 5)
    src = open_video(tmp_path / "v.avi")
    frames = list(src.frames())
    assert len(frames) == 5
    assert [f.name for f in frames] == [file_frame_name(i) for i in range(5)] == [
        "000000.jpg", "000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    red = frames[0].image_rgb[:, 0]
    assert red[:, 0].mean() > 200 and red[:, 2].mean() < 60  # RGB order, not BGR


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 100])
def test_corrupt_or_empty_file_is_a_video_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    src = open_video(path)
    with pytest.raises(VideoError, match=r"bad\.mp4: (cannot open video|no frame decodes)"):
        list(src.frames())


def test_truncated_file_errors_or_yields_what_decodes(tmp_path):
    write_avi(tmp_path / "v.avi", 6)
    data = (tmp_path / "v.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 3])
    try:
        frames = list(open_video(tmp_path / "cut.avi").frames())
    except VideoError as err:
        assert "cut.avi" in str(err)
    else:
        assert 1 <= len(frames) < 6


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such video"),
    (lambda p: p.mkdir(), "holds no images"),
    (lambda p: p.write_text("x"), "not a video file"),
])
def test_open_errors_name_the_path(tmp_path, make, message):
    path = tmp_path / "thing.txt"
    make(path)
    with pytest.raises(VideoError, match=message):
        open_video(path)


def test_unreadable_or_mismatched_frame_is_a_video_error(tmp_path):
    write_frames(tmp_path / "c", ["00001.jpg", "00002.jpg"])
    (tmp_path / "c" / "00003.jpg").write_bytes(b"garbage")
    with pytest.raises(VideoError, match="00003.jpg"):
        list(open_video(tmp_path / "c").frames())
    write_frames(tmp_path / "d", ["1.png"], size_hw=(8, 12))
    write_frames(tmp_path / "d", ["2.png"], size_hw=(9, 12))
    with pytest.raises(VideoError, match="2.png"):
        list(open_video(tmp_path / "d").frames())


def test_list_videos_and_frame_paths(tmp_path):
    write_avi(tmp_path / "b.avi", 2)
    write_avi(tmp_path / "a.avi", 2)
    (tmp_path / "notes.txt").write_text("x")
    assert [v.video_id for v in list_videos(tmp_path)] == ["a", "b"]
    with pytest.raises(VideoError):
        VideoSource.from_frame_paths("x", [])


def test_prefetch_order_errors_and_early_stop():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise VideoError("clip: broken frame 2")

    got = []
    with pytest.raises(VideoError, match="broken frame"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1]

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # the consumer stops: the producer's generator is closed in its own thread
    assert closed.wait(5)


def _jpeg(hw=(8, 12)) -> bytes:
    import cv2

    return cv2.imencode(".jpg", np.full((*hw, 3), 90, np.uint8))[1].tobytes()


@pytest.mark.parametrize("name, make, message", [
    ("a.jpg", lambda p: p.write_bytes(_jpeg()[:-40]), "a.jpg: truncated JPEG \\(no end-of-image marker\\)"),
    ("a.jpg", lambda p: p.write_bytes(b""), "a.jpg: empty file"),
    ("a.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n garbage"), "a.png: truncated PNG"),
    ("a.jpg", lambda p: p.write_bytes(b"\xff\xd8 garbage \xff\xd9"), "a.jpg: cannot decode frame image"),
    ("a.jpg", lambda p: p.write_bytes(_jpeg((8, 10))), "a.jpg: frame is 10x8, the clip's frames are 12x8"),
    ("a.jpg", lambda p: None, "a.jpg: cannot read frame image \\(No such file"),
    ("a.jpg", lambda p: p.mkdir(), "a.jpg: cannot read frame image \\(Is a directory"),
])
def test_read_frame_image_refuses_what_does_not_decode_whole(tmp_path, name, make, message):
    from hmtools.video import frame_file_problem, read_frame_image

    path = tmp_path / name
    make(path)
    with pytest.raises(VideoError, match=message):
        read_frame_image(path, (8, 12))
    if "truncated" in message or "empty" in message:  # the cheap check sees what the marker tells
        assert frame_file_problem(path) is not None


def test_whole_frames_pass_both_checks(tmp_path):
    from hmtools.video import frame_file_problem, read_frame_image

    (tmp_path / "a.jpg").write_bytes(_jpeg() + b"\x00\x00")  # padding after the marker is fine
    assert frame_file_problem(tmp_path / "a.jpg") is None
    assert read_frame_image(tmp_path / "a.jpg", (8, 12)).shape == (8, 12, 3)
