"""Training logs: ``train_log.csv`` (one row per epoch) and TensorBoard scalars.

The CSV is rewritten from the history stored in the checkpoint, so after a resume it always
matches what the run continues from. TensorBoard gets each epoch's row once, and a resumed run
purges events written after its checkpoint. TensorBoard needs the ``tensorboard`` package; without
it the CSV is still written and a one-line notice says how to get TensorBoard logs.

Example::

    log = TrainLog(fold_dir, tensorboard=True)
    log.write([{"epoch": 1, "loss": 1.3, "weight_emotion": 1.0, "dev_ua": 0.41}])
    log.close()
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sertool.stage import atomic_write_text

CSV_NAME = "train_log.csv"
TENSORBOARD_DIR = "tensorboard"


class TrainLog:
    """Writes a fold's epoch rows to CSV and (optionally) TensorBoard."""

    def __init__(self, fold_dir: str | Path, tensorboard: bool = True, log: Callable[[str], None] = print):
        self.fold_dir = Path(fold_dir)
        self.tensorboard = tensorboard
        self.log = log
        self._writer: Any = None
        self._written = 0  # epochs already sent to TensorBoard by this process

    def _summary_writer(self, first_epoch: int) -> Any:
        if self._writer is None and self.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self.log("train: TensorBoard logs skipped (pip install tensorboard to get them); "
                         f"epochs are logged in {CSV_NAME}")
                self.tensorboard = False
                return None
            self._writer = SummaryWriter(str(self.fold_dir / TENSORBOARD_DIR), purge_step=first_epoch)
        return self._writer

    def write(self, history: list[dict[str, Any]]) -> None:
        """Rewrite the CSV from ``history``; send rows not yet sent to TensorBoard."""
        columns: list[str] = []
        for row in history:
            columns.extend(k for k in row if k not in columns)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(self.fold_dir / CSV_NAME, buf.getvalue())
        if not self._written:
            self._written = len(history) - 1 if history else 0  # a resumed run: earlier rows are there
        tb = self._summary_writer(self._written + 1)
        if tb is not None:
            for row in history[self._written:]:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, (int, float)):
                        tb.add_scalar(k.replace("_", "/", 1) if k.startswith(("loss_", "weight_", "dev_")) else k,
                                      v, row["epoch"])
            tb.flush()
        self._written = len(history)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
