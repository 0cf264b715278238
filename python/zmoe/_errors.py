"""zmoe.Error: every failure the package reports, carrying the C status (enum
zmoe_status of include/zmoe.h) and its message."""

# enum zmoe_status, in order
STATUS_NAMES = ("ZMOE_OK", "ZMOE_ERR_ARGUMENT", "ZMOE_ERR_CONFIG", "ZMOE_ERR_IO",
                "ZMOE_ERR_BUDGET", "ZMOE_ERR_NO_DEVICE", "ZMOE_ERR_LEVEL_ZERO",
                "ZMOE_ERR_KERNEL", "ZMOE_ERR_WEIGHTS", "ZMOE_ERR_STATE", "ZMOE_ERR_NO_MEMORY",
                "ZMOE_ERR_DEVICE_LOST", "ZMOE_TIMEOUT", "ZMOE_NOT_READY", "ZMOE_ERR_ROUTING")
globals().update({name: value for value, name in enumerate(STATUS_NAMES)})


class Error(Exception):
    """A zmoe failure. `status` is the enum zmoe_status value (zmoe.ZMOE_ERR_*),
    `status_name` its name, `message` what went wrong and where. Argument checks made
    in Python (shapes, dtypes, devices) use ZMOE_ERR_ARGUMENT like the C side."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = (STATUS_NAMES[self.status] if 0 <= self.status < len(STATUS_NAMES)
                            else f"status {self.status}")
        self.message = message
        super().__init__(f"{self.status_name}: {message}")
