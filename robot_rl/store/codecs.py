"""Per-stream codec pipelines for zarr v3, and `robot_rl.jpeg`, our lossy image codec.

Every chunk ends with zarr's `crc32c` codec, so a flipped bit anywhere is detected on read.
Lossless: `none` (raw), `zstd`, `lz4` (blosc). Lossy, rgb only: `jpeg` (OpenCV's libjpeg-turbo).

`robot_rl.jpeg` is registered with zarr through the `zarr.codecs` entry point in setup.py, so
`zarr.open(store)` decodes JPEG streams in any environment where robot_rl is installed, without
importing it. Chunk encoding (docs/DATA_FORMAT.md): uint32 little-endian frame count n, n uint32
byte lengths, then n baseline JPEG files (one per frame along axis 0, RGB order).
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
import zarr.registry
from zarr.abc.codec import ArrayBytesCodec
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ZstdCodec

JPEG_CODEC_NAME = "robot_rl.jpeg"


@dataclasses.dataclass(frozen=True)
class JpegCodec(ArrayBytesCodec):
    """uint8 [n, H, W, 3] (RGB) or [n, H, W] chunks as n JPEG frames."""
    is_fixed_size = False
    quality: int = 90

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JpegCodec":
        conf = data.get("configuration") or {}
        return cls(quality=int(conf.get("quality", 90)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": JPEG_CODEC_NAME, "configuration": {"quality": self.quality}}

    def evolve_from_array_spec(self, array_spec: Any) -> "JpegCodec":
        if array_spec.dtype.to_native_dtype() != np.uint8:
            raise ValueError(f"{JPEG_CODEC_NAME} encodes uint8 images only")
        return self

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: Any) -> int:
        raise NotImplementedError(f"{JPEG_CODEC_NAME} output size is data dependent")

    def _encode_sync(self, chunk_array: Any, chunk_spec: Any) -> Any:
        import cv2
        frames = np.asarray(chunk_array.as_numpy_array())
        frames = frames.reshape((-1,) + frames.shape[-3:] if frames.shape[-1] == 3 and frames.ndim >= 4
                                else (-1,) + frames.shape[-2:])
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        blobs = []
        for frame in frames:
            # OpenCV's JPEG expects BGR order for its colour transform; we store RGB.
            bgr = frame[..., ::-1] if frame.ndim == 3 else frame
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), params)
            if not ok:
                raise ValueError("JPEG encoding failed")
            blobs.append(buf.tobytes())
        header = np.array([len(blobs)] + [len(b) for b in blobs], dtype="<u4").tobytes()
        return chunk_spec.prototype.buffer.from_bytes(header + b"".join(blobs))

    def _decode_sync(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        out = self.decode_frames(chunk_bytes.as_numpy_array(), tuple(chunk_spec.shape))
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(out)

    @staticmethod
    def decode_frames(data: Any, shape: tuple[int, ...]) -> np.ndarray:
        """Decode one encoded chunk (bytes or a uint8 array) to a uint8 array of `shape`."""
        import cv2
        raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) \
            else np.asarray(data).view(np.uint8)
        n = int(raw[:4].view("<u4")[0])
        lengths = raw[4:4 + 4 * n].view("<u4")
        out = np.empty(shape, dtype=np.uint8)
        flat = out.reshape((n,) + shape[-3:] if shape[-1] == 3 and len(shape) >= 4 else (n,) + shape[-2:])
        offset = 4 + 4 * n
        for i, length in enumerate(lengths):
            blob = raw[offset:offset + int(length)]
            offset += int(length)
            flag = cv2.IMREAD_COLOR if flat.ndim == 4 else cv2.IMREAD_GRAYSCALE
            img = cv2.imdecode(blob, flag)
            if img is None or img.shape[:2] != flat.shape[1:3]:
                raise ValueError(f"{JPEG_CODEC_NAME}: frame {i} of the chunk does not decode")
            flat[i] = img[..., ::-1] if img.ndim == 3 else img
        return out

    # zarr runs codecs on its one event-loop thread; OpenCV releases the GIL, so encode and decode
    # in worker threads and a shard's frames are coded in parallel.
    async def _encode_single(self, chunk_array: Any, chunk_spec: Any) -> Any:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Any, chunk_spec: Any) -> Any:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)


zarr.registry.register_codec(JPEG_CODEC_NAME, JpegCodec)


def array_codecs(codec: str, level: int, itemsize: int) -> dict[str, Any]:
    """The `serializer` and `compressors` arguments of zarr.create_array for one stream codec."""
    if codec == "jpeg":
        return {"serializer": JpegCodec(quality=level), "compressors": [Crc32cCodec()]}
    if codec == "none":
        compressors: list[Any] = []
    elif codec == "zstd":
        compressors = [ZstdCodec(level=level)]
    elif codec == "lz4":
        # Byte shuffle groups the high and low bytes of multi-byte samples (depth, floats).
        compressors = [BloscCodec(cname="lz4", clevel=max(1, min(level, 9)), typesize=itemsize,
                                  shuffle="shuffle" if itemsize > 1 else "noshuffle")]
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return {"serializer": BytesCodec(), "compressors": compressors + [Crc32cCodec()]}
