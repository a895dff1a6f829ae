"""Decoder noise: FFmpeg/OpenCV lines on fd 2 counted per video, everything else passed through."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmtools import decoder_noise
from hmtools.decoder_noise import DecoderNoise, _LineSorter, capture_decoder_noise
from hmtools.errors import VideoError
from hmtools.video import open_video

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
needs_vtest = pytest.mark.skipif(not VTEST.is_file(), reason=f"{VTEST} absent (apt-get install opencv-doc)")


@pytest.mark.parametrize("written, counted, passed", [
    (b"[msmpeg4 @ 0x55a87c5c9b80] ac-tex damaged at 6 31\n", ["ac-tex damaged at 6 31"], b""),
    # FFmpeg's empty prefix line, then the message body on its own line
    (b"[msmpeg4 @ 0x55a8] \nerror while decoding block: 6 x 31 (5)\n",
     ["", "error while decoding block: 6 x 31 (5)"], b""),
    (b"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55be] moov atom not found\n", ["moov atom not found"], b""),
    (b"Unexpected element. Expected: idx1. Got: .\n", ["Unexpected element. Expected: idx1. Got: ."], b""),
    (b"[ WARN:0@0.009] global cap.cpp:212 open VIDEOIO(CV_MJPEG): backend can't be used\n",
     ["[ WARN:0@0.009] global cap.cpp:212 open VIDEOIO(CV_MJPEG): backend can't be used"], b""),
    # not decoder lines: passed through byte for byte, tqdm's unfinished redraws included
    (b"Traceback (most recent call last):\n", [], b"Traceback (most recent call last):\n"),
    (b"\rvtest:  40%|####      | 4/10", [], b"\rvtest:  40%|####      | 4/10"),
    (b"[1/3] step\n", [], b"[1/3] step\n"),
    (b"error: something else\n", [], b"error: something else\n"),
])
def test_line_sorter_counts_decoder_lines_and_passes_the_rest(written, counted, passed):
    got_counted, got_passed = [], []
    sorter = _LineSorter(got_counted.append, got_passed.append)
    for k in range(0, len(written), 7):  # the pipe may cut lines anywhere
        sorter.feed(written[k:k + 7])
    sorter.flush()
    assert got_counted == counted
    assert b"".join(got_passed) == passed


def test_summary_counts_damaged_frames_and_names_the_container_problem():
    n = DecoderNoise("dive.avi")
    for msg in ["ac-tex damaged at 6 31", "", "error while decoding block: 6 x 31 (5)", "Error at MB: 1525",
                "concealing 12 DC, 12 AC, 12 MV errors in P frame"]:
        n.add(msg)
    assert n.damaged_frames == 2 and n.lines == 5
    assert n.summary() == "dive.avi: 2 damaged frames (ac-tex damaged at 6 31)"
    m = DecoderNoise("cut.mp4")
    m.add("moov atom not found")
    assert m.summary() == "cut.mp4: unreadable container (moov atom not found)"
    assert DecoderNoise("quiet.avi").summary() is None


def _fd2_identity():
    st = os.fstat(2)
    return st.st_dev, st.st_ino


def test_capture_counts_other_threads_passes_the_rest_and_restores_fd2(capfd):
    before = _fd2_identity()
    noise = DecoderNoise("a.avi")
    with pytest.raises(RuntimeError, match="boom"):
        with capture_decoder_noise(noise):
            assert noise.captured
            t = threading.Thread(target=os.write, args=(2, b"[h264 @ 0x1f] error while decoding MB 3 4\n"))
            t.start()
            t.join()
            os.write(2, b"a user-facing line\n")
            raise RuntimeError("boom")
    assert _fd2_identity() == before
    assert noise.lines == 1
    err = capfd.readouterr().err
    assert "a user-facing line\n" in err and "h264" not in err


def test_capture_does_not_block_when_the_pipe_fills(capfd):
    noise = DecoderNoise("big.avi")
    line = b"[h264 @ 0x1f] error while decoding MB 3 4\n"
    with capture_decoder_noise(noise):
        os.write(2, line * 20000)  # about 800 kB, far more than a pipe holds
        os.write(2, b"x" * 300000 + b"\n")
    assert noise.lines == 20000
    assert capfd.readouterr().err == "x" * 300000 + "\n"


def test_overlapping_captures_each_count_what_they_saw(capfd):
    outer, inner = DecoderNoise("outer"), DecoderNoise("inner")
    with capture_decoder_noise(outer):
        os.write(2, b"[h264 @ 0x1] first\n")
        with capture_decoder_noise(inner):
            os.write(2, b"[h264 @ 0x1] second\n")
        os.write(2, b"[h264 @ 0x1] third\n")
    assert (outer.lines, inner.lines) == (3, 1)
    assert capfd.readouterr().err == ""


def test_no_op_where_fd2_cannot_be_duplicated(monkeypatch, capfd):
    def no_dup():  # what os.dup(2) raises where there is no fd 2 (os.dup itself is pytest's too)
        raise OSError(9, "Bad file descriptor")

    monkeypatch.setattr(decoder_noise, "_Router", no_dup)
    noise = DecoderNoise("a.avi")
    with capture_decoder_noise(noise):
        os.write(2, b"[h264 @ 0x1f] printed as before\n")
    assert not noise.captured and noise.lines == 0
    assert "printed as before" in capfd.readouterr().err


@needs_vtest
def test_truncated_vtest_is_summarised_not_printed(tmp_path, capfd):
    cut = tmp_path / "vtest_cut.avi"
    cut.write_bytes(VTEST.read_bytes()[:200_000])  # msmpeg4 frames, the last one cut mid-way
    noise = DecoderNoise(cut.name)
    frames = list(open_video(cut).frames(noise))
    assert len(frames) > 0
    assert noise.damaged_frames == 1 and noise.lines >= 3
    assert noise.summary().startswith("vtest_cut.avi: 1 damaged frame (")
    assert capfd.readouterr().err == ""  # before: "[msmpeg4 @ 0x…] ac-tex damaged at 8 11" and 3 more

    list(open_video(cut).frames())  # no DecoderNoise given: one summary line instead of the raw ones
    err = capfd.readouterr().err
    assert err.startswith("warning: vtest_cut.avi: 1 damaged frame") and err.count("\n") == 1


def test_unreadable_container_is_named_in_the_error(tmp_path, capfd):
    whole = tmp_path / "whole.mp4"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build writes no mp4v")
    for i in range(20):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:1000])  # the moov atom sits at the end
    with pytest.raises(VideoError, match=r"cannot open video .*moov atom not found"):
        list(open_video(cut).frames())
    assert "moov" not in capfd.readouterr().err
