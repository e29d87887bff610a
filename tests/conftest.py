import os

from hypothesis import HealthCheck, settings

# compile=True waits for the compiled interpreter here (outside tests it compiles in the
# background the first time on a machine, the call running interpreted meanwhile): tests of
# the compiled path see it compiled. test_compiled tests the background itself.
os.environ.setdefault("AD_COMPILE_BACKGROUND", "0")

settings.register_profile("ad", deadline=None, max_examples=15, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ad"))

# The cost model prices with a calibration table: tests use the one shipped with the
# package (a fixed file), never this machine's cache, so predictions are deterministic.
from ad.cost import calibration  # noqa: E402

calibration.use(calibration.load_default())
