"""The error of the flow-capture harness (re-exported by tests/support/netflow.py), shared by its
modules so that each failure of the capture is one exception type for the tests to expect."""


class FlowCaptureError(AssertionError):
    """The flow capture could not be built, or what it captured is not what the traffic plan sent."""
