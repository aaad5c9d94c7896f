"""Chunked AES-256-GCM media encryption: format, random access, tamper and crash handling, PyAV."""
from __future__ import annotations

import io
import os
import random
import stat
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest
from av.rational import AVRational
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vigia.appliance import encryption
from vigia.appliance.encryption import (
    DEFAULT_CHUNK_SIZE,
    HEADER_LEN,
    MAGIC,
    SALT_LEN,
    TAG_LEN,
    EncryptedReader,
    EncryptedWriter,
    FormatError,
    KeyFileError,
    MediaCryptoError,
    TamperedError,
    load_or_create_key,
    open_media,
    read_range,
    recover,
    write_encrypted,
)

KEY = bytes(range(32))
SMALL_CHUNK = 4096
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
SALT = slice(12, 12 + SALT_LEN)  # where the salt lies in the header


def write_file(path: Path, data: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE, piece: int = 7001) -> None:
    """Write `data` through an EncryptedWriter in pieces that straddle chunk boundaries."""
    with EncryptedWriter(path, KEY, chunk_size) as writer:
        for start in range(0, len(data), piece):
            writer.write(data[start:start + piece])
        assert writer.tell() == len(data)


def chunk_offset(index: int, chunk_size: int) -> int:
    return HEADER_LEN + index * (chunk_size + TAG_LEN)


def flip_byte(path: Path, offset: int) -> None:
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x01
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize(
    "size",
    [0, 1, DEFAULT_CHUNK_SIZE - 1, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1, 5_000_000],
)
def test_round_trip(tmp_path, size):
    data = random.Random(size).randbytes(size)
    path = tmp_path / "media.vgm"
    write_file(path, data)
    chunks = max(1, -(-size // DEFAULT_CHUNK_SIZE))
    assert path.stat().st_size == HEADER_LEN + size + chunks * TAG_LEN
    assert path.read_bytes()[:4] == MAGIC
    with EncryptedReader(path, KEY) as reader:
        assert reader.complete
        assert reader.size == size
        assert reader.read() == data
        assert reader.read(10) == b""


def test_writer_is_sequential_only(tmp_path):
    with EncryptedWriter(tmp_path / "w.vgm", KEY) as writer:
        assert writer.writable() and not writer.seekable() and not writer.readable()
        writer.write(bytearray(b"abc"))
        writer.write(memoryview(b"defg"))
        writer.flush()
        assert writer.tell() == 7
    with pytest.raises(ValueError):
        writer.write(b"late")
    assert read_range(tmp_path / "w.vgm", KEY, 0, 100) == b"abcdefg"


def test_whole_chunks_reach_the_file_before_close(tmp_path):
    path = tmp_path / "live.vgm"
    writer = EncryptedWriter(path, KEY, SMALL_CHUNK)
    writer.write(b"x" * (2 * SMALL_CHUNK + 10))
    writer.flush()
    assert path.stat().st_size == chunk_offset(2, SMALL_CHUNK)
    with EncryptedReader(path, KEY) as reader:  # what a crash right now would leave
        assert not reader.complete
        assert reader.read() == b"x" * (2 * SMALL_CHUNK)
    writer.close()
    assert EncryptedReader(path, KEY).complete


def test_random_access_matches_plaintext(tmp_path):
    data = random.Random(1).randbytes(10 * SMALL_CHUNK + 123)
    path = tmp_path / "media.vgm"
    write_file(path, data, SMALL_CHUNK)
    rng = random.Random(2)
    with EncryptedReader(path, KEY) as reader:
        assert reader.seekable() and reader.readable()
        for boundary in range(SMALL_CHUNK, len(data), SMALL_CHUNK):
            for start, count in [(boundary - 1, 2), (boundary, 1), (boundary - 5, 10),
                                 (boundary - 3, 3 * SMALL_CHUNK), (boundary - SMALL_CHUNK, SMALL_CHUNK)]:
                assert reader.seek(start) == start
                assert reader.read(count) == data[start:start + count]
                assert reader.tell() == min(start + count, len(data))
        for _ in range(200):
            start = rng.randrange(len(data))
            count = rng.randrange(1, 3 * SMALL_CHUNK)
            reader.seek(start)
            assert reader.read(count) == data[start:start + count]
        reader.seek(SMALL_CHUNK)
        reader.seek(5, io.SEEK_CUR)
        assert reader.read(4) == data[SMALL_CHUNK + 5:SMALL_CHUNK + 9]
        reader.seek(-7, io.SEEK_END)
        assert reader.read() == data[-7:]
        reader.seek(len(data) + 100)
        assert reader.read(10) == b""
        buffer = bytearray(SMALL_CHUNK + 2)
        reader.seek(SMALL_CHUNK - 1)
        assert reader.readinto(buffer) == len(buffer)
        assert buffer == data[SMALL_CHUNK - 1:2 * SMALL_CHUNK + 1]
        with pytest.raises(ValueError):
            reader.seek(-1)
    assert read_range(path, KEY, SMALL_CHUNK - 2, 3 * SMALL_CHUNK + 2) == data[SMALL_CHUNK - 2:3 * SMALL_CHUNK + 2]
    assert read_range(path, KEY, len(data) - 3, len(data) + 50) == data[-3:]


def test_flipped_byte_is_reported_with_its_chunk(tmp_path):
    data = random.Random(3).randbytes(6 * SMALL_CHUNK + 50)
    path = tmp_path / "media.vgm"
    write_file(path, data, SMALL_CHUNK)
    flip_byte(path, chunk_offset(3, SMALL_CHUNK) + 100)
    with EncryptedReader(path, KEY) as reader:
        assert reader.complete
        assert reader.read(3 * SMALL_CHUNK) == data[:3 * SMALL_CHUNK]
        with pytest.raises(TamperedError) as caught:
            reader.read(10)
        assert caught.value.chunk_index == 3
        assert "chunk 3" in str(caught.value) and str(path) in str(caught.value)
        reader.seek(4 * SMALL_CHUNK)
        assert reader.read() == data[4 * SMALL_CHUNK:]
    with pytest.raises(TamperedError):
        read_range(path, KEY, 3 * SMALL_CHUNK - 1, 3 * SMALL_CHUNK + 1)


def test_swapped_chunks_are_detected(tmp_path):
    data = random.Random(4).randbytes(4 * SMALL_CHUNK + 9)
    path = tmp_path / "media.vgm"
    write_file(path, data, SMALL_CHUNK)
    blob = bytearray(path.read_bytes())
    one = slice(chunk_offset(1, SMALL_CHUNK), chunk_offset(2, SMALL_CHUNK))
    two = slice(chunk_offset(2, SMALL_CHUNK), chunk_offset(3, SMALL_CHUNK))
    blob[one], blob[two] = blob[two], blob[one]
    path.write_bytes(bytes(blob))
    with EncryptedReader(path, KEY) as reader:
        assert reader.read(SMALL_CHUNK) == data[:SMALL_CHUNK]
        with pytest.raises(TamperedError) as caught:
            reader.read(1)
        assert caught.value.chunk_index == 1


def test_chunk_from_another_file_is_detected(tmp_path):
    data = bytes(3 * SMALL_CHUNK)  # same plaintext, same key: only the header differs
    first, second = tmp_path / "a.vgm", tmp_path / "b.vgm"
    write_file(first, data, SMALL_CHUNK)
    write_file(second, data, SMALL_CHUNK)
    stolen = second.read_bytes()[chunk_offset(1, SMALL_CHUNK):chunk_offset(2, SMALL_CHUNK)]
    blob = bytearray(first.read_bytes())
    # a fresh key per file: equal plaintext under one device key gives unrelated ciphertext
    assert blob[chunk_offset(1, SMALL_CHUNK):chunk_offset(1, SMALL_CHUNK) + 64] != stolen[:64]
    blob[chunk_offset(1, SMALL_CHUNK):chunk_offset(2, SMALL_CHUNK)] = stolen
    first.write_bytes(bytes(blob))
    with pytest.raises(TamperedError) as caught:
        read_range(first, KEY, 0, len(data))
    assert caught.value.chunk_index == 1


def test_header_layout_and_spec_conformance(tmp_path):
    """Decrypt a file independently of the module, from the format the docstring specifies."""
    data = random.Random(7).randbytes(2 * SMALL_CHUNK + 77)
    path = tmp_path / "media.vgm"
    write_file(path, data, SMALL_CHUNK)
    blob = path.read_bytes()
    assert HEADER_LEN == 28 and SALT_LEN == 16
    header = blob[:HEADER_LEN]
    magic, version, header_len, chunk_size = struct.unpack(">4sHHI", header[:12])
    assert (magic, version, header_len, chunk_size) == (b"VGM1", 2, 28, SMALL_CHUNK)
    salt = header[SALT]
    file_key = HKDF(algorithm=SHA256(), length=32, salt=salt, info=b"vigia media v2").derive(KEY)
    aead = AESGCM(file_key)
    plain = b""
    for index in range(3):
        sealed = blob[chunk_offset(index, SMALL_CHUNK):chunk_offset(index + 1, SMALL_CHUNK)]
        aad = header + struct.pack(">IB", index, index == 2)
        plain += aead.decrypt(index.to_bytes(12, "big"), sealed, aad)
    assert plain == data


def test_each_file_has_its_own_salt_and_key(tmp_path):
    data = bytes(2 * SMALL_CHUNK + 5)  # identical plaintext, identical device key
    first, second = tmp_path / "a.vgm", tmp_path / "b.vgm"
    write_file(first, data, SMALL_CHUNK)
    write_file(second, data, SMALL_CHUNK)
    one, two = first.read_bytes(), second.read_bytes()
    assert one[:12] == two[:12]  # magic, version, header length, chunk size
    assert one[SALT] != two[SALT] and len(set(one[SALT])) > 1
    chunk0 = slice(chunk_offset(0, SMALL_CHUNK), chunk_offset(1, SMALL_CHUNK))
    assert one[chunk0] != two[chunk0]  # same nonce (index 0), different file keys
    # a header whose salt was altered (any byte) fails to authenticate
    for offset in (SALT.start, SALT.start + 7, SALT.stop - 1):
        altered = tmp_path / f"salt{offset}.vgm"
        altered.write_bytes(one)
        flip_byte(altered, offset)
        with pytest.raises(TamperedError) as caught:
            EncryptedReader(altered, KEY)
        assert caught.value.chunk_index == 1  # the last chunk fails, then the whole one before it
    # another file's salt does not fit either, even with both files' headers otherwise equal
    swapped = tmp_path / "swapped.vgm"
    swapped.write_bytes(two[:HEADER_LEN] + one[HEADER_LEN:])
    with pytest.raises(TamperedError):
        EncryptedReader(swapped, KEY)


def test_modified_header_is_detected(tmp_path):
    path = tmp_path / "media.vgm"
    write_file(path, bytes(3 * SMALL_CHUNK + 5), SMALL_CHUNK)
    original = path.read_bytes()
    flip_byte(path, HEADER_LEN - 1)  # last byte of the salt
    with pytest.raises(TamperedError):
        EncryptedReader(path, KEY)
    for offset in range(12):  # magic, version, header length, chunk size
        path.write_bytes(original)
        flip_byte(path, offset)
        try:
            reader = EncryptedReader(path, KEY)
        except (FormatError, TamperedError):
            continue
        with reader:  # a chunk size that makes the file one torn chunk: incomplete, nothing readable
            assert not reader.complete
            assert reader.read() == b""
    path.write_bytes(original[:HEADER_LEN - 1])
    with pytest.raises(FormatError):
        EncryptedReader(path, KEY)


def test_header_is_authenticated_beyond_the_key_it_derives(tmp_path):
    """A header field that leaves salt and chunk layout unchanged must still fail: header in the AAD."""
    path = tmp_path / "media.vgm"
    write_file(path, b"a single short chunk", SMALL_CHUNK)
    blob = bytearray(path.read_bytes())
    blob[8:12] = struct.pack(">I", 2 * SMALL_CHUNK)  # chunk 0 keeps its offset, length and nonce
    path.write_bytes(bytes(blob))
    with EncryptedReader(path, KEY) as reader:
        assert not reader.complete  # the only chunk fails: read as torn, never as the data
        assert reader.read() == b""


def test_version_1_files_are_refused(tmp_path):
    path = tmp_path / "old.vgm"
    path.write_bytes(struct.pack(">4sHHI8s", b"VGM1", 1, 20, SMALL_CHUNK, bytes(8)) + bytes(100))
    with pytest.raises(FormatError, match="version 1"):
        EncryptedReader(path, KEY)


def test_file_key_is_derived_once_per_file_object(tmp_path, monkeypatch):
    calls = []
    real = encryption.HKDF

    class CountingHKDF:  # HKDF is a Rust type: wrap it, it cannot be subclassed
        def __init__(self, **kwargs):
            self._hkdf = real(**kwargs)

        def derive(self, key_material):
            calls.append(len(key_material))
            return self._hkdf.derive(key_material)

    monkeypatch.setattr(encryption, "HKDF", CountingHKDF)
    path = tmp_path / "media.vgm"
    data = random.Random(8).randbytes(20 * SMALL_CHUNK + 3)
    write_file(path, data, SMALL_CHUNK)
    assert calls == [32]
    with EncryptedReader(path, KEY) as reader:
        assert reader.read() == data
        reader.seek(5 * SMALL_CHUNK)
        assert reader.read(3 * SMALL_CHUNK) == data[5 * SMALL_CHUNK:8 * SMALL_CHUNK]
    assert calls == [32, 32]


def test_tampered_final_chunk_or_appended_bytes_never_pass_as_complete(tmp_path):
    path = tmp_path / "media.vgm"
    data = bytes(2 * SMALL_CHUNK + 5)
    write_file(path, data, SMALL_CHUNK)
    flip_byte(path, chunk_offset(2, SMALL_CHUNK))
    with EncryptedReader(path, KEY) as reader:
        assert not reader.complete
        assert reader.size == 2 * SMALL_CHUNK
    write_file(path, bytes(2 * SMALL_CHUNK), SMALL_CHUNK)
    with path.open("ab") as file:
        file.write(b"junk")
    with pytest.raises(TamperedError) as caught:
        EncryptedReader(path, KEY)
    assert caught.value.chunk_index == 1


@pytest.mark.parametrize("torn_bytes", [0, 100, SMALL_CHUNK + TAG_LEN - 1])
def test_crash_leaves_whole_chunks_and_recover_completes(tmp_path, torn_bytes):
    data = random.Random(5).randbytes(5 * SMALL_CHUNK + 500)
    path = tmp_path / "media.vgm"
    write_file(path, data, SMALL_CHUNK)
    os.truncate(path, chunk_offset(3, SMALL_CHUNK) + torn_bytes)
    old_salt = path.read_bytes()[SALT]
    with EncryptedReader(path, KEY) as reader:
        assert not reader.complete
        assert reader.size == 3 * SMALL_CHUNK
        assert reader.read() == data[:3 * SMALL_CHUNK]
    assert recover(path, KEY) == 3 * SMALL_CHUNK
    assert path.stat().st_size == chunk_offset(3, SMALL_CHUNK)
    assert path.read_bytes()[SALT] != old_salt  # fresh salt, so a fresh key: no nonce reuse
    with EncryptedReader(path, KEY) as reader:
        assert reader.complete
        assert reader.read() == data[:3 * SMALL_CHUNK]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media.vgm"]


def test_failed_write_leaves_an_incomplete_file_that_recovers(tmp_path):
    """Disk full mid-chunk (RLIMIT_FSIZE, in a child process): whole chunks survive, no final chunk."""
    path = tmp_path / "full.vgm"
    limit = chunk_offset(2, SMALL_CHUNK) + 1000
    script = f"""
import resource
from vigia.appliance.encryption import EncryptedWriter
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
writer = EncryptedWriter({str(path)!r}, {KEY!r}, {SMALL_CHUNK})
try:
    for i in range(5):
        writer.write(bytes([i]) * {SMALL_CHUNK})
except OSError as exc:
    print("write failed", exc.errno)
writer.close()
"""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert child.stdout.startswith("write failed")
    assert path.stat().st_size == limit  # ends in a torn chunk
    with EncryptedReader(path, KEY) as reader:
        assert not reader.complete
        assert reader.read() == bytes([0]) * SMALL_CHUNK + bytes([1]) * SMALL_CHUNK
    assert recover(path, KEY) == 2 * SMALL_CHUNK
    assert EncryptedReader(path, KEY).complete


def test_recover_of_header_only_file_and_of_complete_file(tmp_path):
    empty = tmp_path / "empty.vgm"
    write_file(empty, b"", SMALL_CHUNK)
    os.truncate(empty, HEADER_LEN)
    reader = EncryptedReader(empty, KEY)
    assert (reader.size, reader.complete) == (0, False)
    reader.close()
    assert recover(empty, KEY) == 0
    assert EncryptedReader(empty, KEY).complete

    done = tmp_path / "done.vgm"
    write_file(done, bytes(range(256)) * 40, SMALL_CHUNK)
    before = done.read_bytes()
    assert recover(done, KEY) == 10240
    assert done.read_bytes() == before


def test_recover_refuses_a_tampered_chunk_and_keeps_the_file(tmp_path):
    path = tmp_path / "media.vgm"
    write_file(path, bytes(5 * SMALL_CHUNK), SMALL_CHUNK)
    os.truncate(path, chunk_offset(4, SMALL_CHUNK))
    flip_byte(path, chunk_offset(1, SMALL_CHUNK) + 7)
    before = path.read_bytes()
    with pytest.raises(TamperedError) as caught:
        recover(path, KEY)
    assert caught.value.chunk_index == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["media.vgm"]


def test_open_media_and_snapshots(tmp_path):
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(b"\xff\xd8 plain jpeg")
    with open_media(plain, None) as media:
        assert not isinstance(media, EncryptedReader)
        assert media.read() == b"\xff\xd8 plain jpeg"
    assert read_range(plain, None, 2, 7) == b" plai"

    snapshot = tmp_path / "snap.jpg"
    jpeg = random.Random(6).randbytes(150_000)
    write_encrypted(snapshot, jpeg, KEY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.jpg", "snap.jpg"]
    with open_media(snapshot, KEY) as media:
        assert isinstance(media, EncryptedReader)
        assert media.read() == jpeg
    with pytest.raises(MediaCryptoError, match="no media key"):
        open_media(snapshot, None)
    with pytest.raises(FormatError):
        EncryptedReader(plain, KEY)
    with pytest.raises(TamperedError):
        EncryptedReader(snapshot, bytes(32))  # wrong key


def test_key_file_created_private_and_reused(tmp_path):
    path = tmp_path / "keys" / "media.key"
    old_umask = os.umask(0)  # permissions must not depend on the umask
    try:
        key = load_or_create_key(path)
    finally:
        os.umask(old_umask)
    assert len(key) == 32
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["media.key"]
    assert load_or_create_key(tmp_path / "other.key") != key


def test_bad_key_files_are_refused_without_leaking_the_key(tmp_path):
    path = tmp_path / "media.key"
    key = load_or_create_key(path)
    errors: list[BaseException] = []

    for mode in (0o644, 0o640, 0o604):
        path.chmod(mode)
        with pytest.raises(KeyFileError) as caught:
            load_or_create_key(path)
        assert str(path) in str(caught.value) and f"{mode:04o}" in str(caught.value)
        errors.append(caught.value)

    path.chmod(0o600)
    path.write_bytes(key + b"\n")
    with pytest.raises(KeyFileError, match="33 bytes") as caught:
        load_or_create_key(path)
    errors.append(caught.value)

    with pytest.raises(ValueError) as caught:
        EncryptedWriter(tmp_path / "x.vgm", key[:31])
    errors.append(caught.value)

    media = tmp_path / "media.vgm"
    write_encrypted(media, bytes(2 * SMALL_CHUNK), key, SMALL_CHUNK)
    flip_byte(media, HEADER_LEN)
    with pytest.raises(TamperedError) as caught:
        read_range(media, key, 0, 6)
    errors.append(caught.value)
    with pytest.raises(MediaCryptoError) as caught:
        open_media(media, None)
    errors.append(caught.value)

    for error in errors:
        text = f"{error} {error!r} {error.args!r}"
        for form in (key.hex(), repr(key), key.decode("latin-1"), key[:31].hex(), repr(key[:31])):
            assert form not in text


def remux_first_seconds(clip: Path, writer: EncryptedWriter, seconds: float) -> int:
    """Copy the clip's H.264 packets (no re-encode) into `writer` as fragmented MP4."""
    packets = 0
    with av.open(str(clip)) as source, av.open(writer, mode="w", format="mp4", options=FRAGMENTED_MP4) as output:
        in_stream = source.streams.video[0]
        out_stream = output.add_stream_from_template(in_stream)
        output.start_encoding()  # the muxer picks the stream time base here
        for packet in source.demux(in_stream):
            if packet.dts is None or packet.size == 0:
                continue
            if packet.pts * in_stream.time_base >= seconds:
                break
            packet.rescale_ts(AVRational(out_stream.time_base))
            packet.stream = out_stream
            output.mux(packet)
            packets += 1
    return packets


@pytest.fixture(scope="module")
def encrypted_mp4(demo_clip, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pyav") / "segment.mp4.vgm"
    with EncryptedWriter(path, KEY) as writer:
        assert not writer.seekable()
        assert remux_first_seconds(demo_clip, writer, 5.0) > 100
    return path


def test_pyav_reads_encrypted_fragmented_mp4(encrypted_mp4):
    with EncryptedReader(encrypted_mp4, KEY) as reader:
        assert reader.complete
        with av.open(reader) as container:
            assert "mp4" in container.format.name
            times = [frame.time for frame in container.decode(video=0)]
            assert 120 <= len(times) <= 130
            assert times[-1] == pytest.approx(5.0, abs=0.1)
            container.seek(3 * av.time_base, backward=True)  # back from the end of the file
            after = [frame.time for frame in container.decode(video=0)]
            assert after[0] <= 3.0  # the keyframe at or before 3 s
            assert any(abs(t - 3.0) < 0.05 for t in after)


def test_decrypted_segment_is_valid_mp4_for_ffprobe(encrypted_mp4, tmp_path):
    plain = tmp_path / "segment.mp4"
    with EncryptedReader(encrypted_mp4, KEY) as reader:
        plain.write_bytes(reader.read())
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(plain)],
        capture_output=True, text=True, check=True,
    )
    assert probe.stderr == ""
    assert float(probe.stdout) == pytest.approx(5.0, abs=0.15)


def test_pyav_surfaces_tampering(encrypted_mp4, tmp_path):
    tampered = tmp_path / "tampered.vgm"
    tampered.write_bytes(encrypted_mp4.read_bytes())
    flip_byte(tampered, chunk_offset(5, DEFAULT_CHUNK_SIZE) + 1000)
    with EncryptedReader(tampered, KEY) as reader, av.open(reader) as container:
        with pytest.raises(TamperedError) as caught:
            for _ in container.decode(video=0):
                pass
    assert caught.value.chunk_index == 5
