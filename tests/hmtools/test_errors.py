"""Which errors stop a batch of videos (:func:`hmtools.errors.stops_the_batch`)."""

import errno

import pytest

from hmtools.errors import StoreError, stops_the_batch


@pytest.mark.parametrize("err, stops", [
    (OSError(errno.ENOSPC, "No space left on device", "/elsewhere/x"), True),
    (OSError(errno.EROFS, "Read-only file system"), True),
    (PermissionError(errno.EACCES, "Permission denied", "/data/store/videos/.v.json.1.tmp"), True),
    (PermissionError(errno.EACCES, "Permission denied", "/videos/dive.mp4"), False),  # that video's problem
    (PermissionError(errno.EACCES, "Permission denied", "/data/store-other/x"), False),
    (OSError(errno.EIO, "Input/output error", "/data/store/videos/v.json"), False),
    (StoreError("/data/store/videos/v.json: corrupt"), False),
])
def test_full_disks_and_an_unwritable_store_stop_the_batch(err, stops):
    assert stops_the_batch(err, "/data/store") is stops
