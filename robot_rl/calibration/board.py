"""The calibration target: a ChArUco board (a checkerboard with ArUco markers in its white squares),
so every detected corner has a known id and the board's pose is unambiguous (a plain checkerboard's
pose can flip 180 degrees between views, which breaks hand-eye calibration)."""
from __future__ import annotations

import dataclasses
import pathlib

import cv2
import numpy as np


class CalibrationError(Exception):
    """A capture or input that cannot give a calibration; str() says what to do about it."""


@dataclasses.dataclass
class BoardSpec:
    squares_x: int = 7
    squares_y: int = 5
    square_m: float = 0.03
    marker_m: float = 0.022
    dictionary: str = "DICT_4X4_50"

    def validate(self) -> None:
        if self.squares_x < 3 or self.squares_y < 3 or not 0 < self.marker_m < self.square_m:
            raise ValueError("need >= 3x3 squares and 0 < marker_m < square_m")
        if not hasattr(cv2.aruco, self.dictionary):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")

    @property
    def size_m(self) -> tuple[float, float]:
        return self.squares_x * self.square_m, self.squares_y * self.square_m

    def board(self) -> "cv2.aruco.CharucoBoard":
        d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_m, self.marker_m, d)

    def image(self, px_per_square: int = 120) -> np.ndarray:
        """The printable board (grayscale), exactly squares_x x squares_y squares, no margin."""
        return self.board().generateImage((self.squares_x * px_per_square, self.squares_y * px_per_square),
                                          marginSize=0, borderBits=1)

    def write_png(self, path: pathlib.Path, px_per_square: int = 120) -> pathlib.Path:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(self.image(px_per_square), cv2.COLOR_GRAY2BGR))
        return path


@dataclasses.dataclass
class Detection:
    ids: np.ndarray           # (n,) corner ids
    image_points: np.ndarray  # (n, 2) float32 pixels
    object_points: np.ndarray  # (n, 3) float32 metres, in the board frame


def detect(image: np.ndarray, spec: BoardSpec, min_corners: int = 6) -> Detection | None:
    """ChArUco corners in an RGB or gray image, or None when fewer than min_corners are found."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    board = spec.board()
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(gray)
    if ids is None or len(ids) < min_corners:
        return None
    obj, img = board.matchImagePoints(corners, ids)
    return Detection(ids=np.asarray(ids).reshape(-1), image_points=np.asarray(img, np.float32).reshape(-1, 2),
                     object_points=np.asarray(obj, np.float32).reshape(-1, 3))
