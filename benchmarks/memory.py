"""Peak activation memory of one forward pass, measured in its own process.

Two measures, taken over the same run:

- `"rss"`: growth of the resident set. TensorFlow's CPU allocator keeps the
  memory it has used (a best-fit pool that is never handed back), so a
  warm-up at full length would leave the run nothing to add. The process
  therefore holds one model, warms up on a short input (tracing the graph),
  and the run at full length is the first to need the activation memory.
  The baseline is the resident size after that warm-up with the kernel's
  high-water mark reset to it (`/proc/self/clear_refs` "5", Linux >= 4.0);
  where the reset is refused, the baseline is `ru_maxrss` after the
  warm-up, which is valid because the short warm-up's peak is below the
  run's. Peak is `VmHWM` (or `ru_maxrss`) after the run.
- `"allocator"`: the backend's own allocator peak minus what was allocated
  before the run: exactly the tensors of the run. TensorFlow's
  (`get_memory_info` after `reset_memory_stats`) on GPUs and on CPU with
  oneDNN (the default on x86 Linux); JAX's `device.memory_stats()` and
  `torch.cuda.max_memory_allocated` on GPUs.
"""

import ctypes
import ctypes.util
import gc
import os
import resource
import sys

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field):
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes():
    """Current resident set size, or `None` where /proc is missing."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def hwm_bytes():
    """Resident high-water mark (VmHWM, else ru_maxrss)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    return maxrss_bytes()


def maxrss_bytes():
    """`ru_maxrss` in bytes (kilobytes on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def release_free_memory():
    """Collects garbage and returns free heap pages to the OS (glibc)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):
        return False


def reset_peak():
    """Resets VmHWM to the current RSS. Returns whether the kernel let us."""
    if not os.path.exists(_CLEAR_REFS):
        return False
    before = _status_kib("VmHWM")
    try:
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")
    except OSError:
        return False
    after, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    # Verify: after a reset the high-water mark is (about) the current RSS.
    return after is not None and (after <= before) and after - rss < 1024


def can_reset_peak():
    """Whether this process can reset its resident high-water mark."""
    return reset_peak()


class PeakMeter:
    """Measures a run's peak memory above the state before it.

    `allocator` is a backend's allocator (`benchmarks.backends`:
    `reset()` and `info()` giving `{"current", "peak"}` bytes, or `None`
    where it has none); resident memory is measured in every case.

    >>> meter = PeakMeter(backend.allocator())
    >>> meter.start()      # after build and a short warm-up
    >>> run()
    >>> meter.stop()       # {"rss_bytes": ..., "allocator_bytes": ...}
    """

    def __init__(self, allocator=None):
        self.allocator = allocator
        self.rss_method = None
        self.rss_baseline = None
        self.allocator_baseline = None

    def _allocator_info(self):
        return None if self.allocator is None else self.allocator.info()

    def start(self):
        release_free_memory()
        if self.allocator is not None:
            self.allocator.reset()
        info = self._allocator_info()
        self.allocator_baseline = None if info is None else info["current"]
        if reset_peak():
            self.rss_method = "vmhwm-reset"
            self.rss_baseline = rss_bytes()
        else:
            self.rss_method = "ru_maxrss"
            self.rss_baseline = maxrss_bytes()

    def stop(self):
        if self.rss_method == "vmhwm-reset":
            rss_peak = hwm_bytes()
        else:
            rss_peak = maxrss_bytes()
        info = self._allocator_info()
        result = {
            "rss_bytes": max(rss_peak - self.rss_baseline, 0),
            "rss_method": self.rss_method,
            "rss_baseline_bytes": self.rss_baseline,
            "rss_peak_bytes": rss_peak,
            "allocator_bytes": None,
            "allocator_peak_bytes": None,
        }
        if info is not None and self.allocator_baseline is not None:
            result["allocator_bytes"] = max(
                info["peak"] - self.allocator_baseline, 0
            )
            result["allocator_peak_bytes"] = info["peak"]
        return result
