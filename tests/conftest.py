import os

from hypothesis import HealthCheck, settings

settings.register_profile("ad", deadline=None, max_examples=15, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ad"))

# The cost model prices with a calibration table: tests use the one shipped with the
# package (a fixed file), never this machine's cache, so predictions are deterministic.
from ad.cost import calibration  # noqa: E402

calibration.use(calibration.load_default())
