"""Named errors of the study; each message says what is wrong and how to fix it."""


class StudyError(Exception):
    """Base class of every error raised on purpose by :mod:`lib`."""


class InvalidCellError(StudyError, ValueError):
    """A cell is not a member of its search space (the message says why)."""


class UnknownBenchmarkError(StudyError, KeyError):
    """A benchmark, dataset or metric name is not known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataMissingError(StudyError, FileNotFoundError):
    """A benchmark file is absent; the message names it and how to obtain it."""


class CorruptDataError(StudyError, ValueError):
    """A benchmark file exists but cannot be read as the expected table."""


class NotInBenchmarkError(StudyError, KeyError):
    """A valid cell has no measurement in the benchmark's table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class BudgetExhaustedError(StudyError, RuntimeError):
    """A search asked for more distinct architectures than its query budget."""


class NoMetricsError(StudyError, RuntimeError):
    """The space has no measured metrics (e.g. DARTS), so it cannot be queried."""


class QueryLimitError(StudyError, RuntimeError):
    """A search called the oracle far more often than its budget (it keeps re-asking for known cells)."""
