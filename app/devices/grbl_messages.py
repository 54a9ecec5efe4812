"""GRBL 1.1 ``error:N`` and ``ALARM:N`` codes in words an operator can act on (after the GRBL 1.1 code tables)."""

from __future__ import annotations

ERRORS: dict[int, str] = {
    1: "a G-code word has no letter",
    2: "a number is missing or badly formatted",
    3: "unknown '$' system command",
    4: "a value that must be positive is negative",
    5: "homing is not enabled in the settings ($22)",
    6: "step pulse time must be at least 3 microseconds ($0)",
    7: "settings memory could not be read; defaults restored",
    8: "'$' command only works while the machine is idle",
    9: "G-code is locked out during an alarm or jog; unlock ($X) or home ($H) first",
    10: "soft limits need homing enabled ($22)",
    11: "line too long for the controller",
    12: "step rate above 30 kHz: lower the feed or steps/mm",
    13: "safety door is open",
    14: "startup or build line too long for memory",
    15: "jog target exceeds machine travel",
    16: "invalid jog command",
    17: "laser mode needs PWM spindle output",
    20: "unsupported or invalid G-code command in the line",
    21: "two commands of the same modal group in one line",
    22: "feed rate not set (add an F word)",
    23: "command needs an integer value",
    24: "two commands in one line both need axis words",
    25: "a G-code word is repeated in the line",
    26: "command needs axis words and none were given",
    27: "invalid line number",
    28: "command is missing a required value",
    29: "work coordinate systems G59.1-G59.3 are not supported",
    30: "G53 is only allowed with G0 and G1",
    31: "axis words given but no command uses them",
    32: "arc needs at least one axis word in the selected plane",
    33: "motion target is invalid",
    34: "arc radius is invalid",
    35: "arc needs at least one offset word in the selected plane",
    36: "unused value words in the line",
    37: "dynamic tool length offset is not on the tool length axis",
    38: "tool number above the supported maximum",
}

ALARMS: dict[int, str] = {
    1: "hard limit triggered: position is lost, home the machine again",
    2: "motion target beyond machine travel (soft limit): position kept, unlock to continue",
    3: "reset while moving: position may be lost, home the machine again",
    4: "probe was not in the expected state before probing",
    5: "probe did not touch the workpiece within the programmed travel",
    6: "homing failed: reset during the homing cycle",
    7: "homing failed: safety door opened during homing",
    8: "homing failed: could not pull off the limit switch",
    9: "homing failed: limit switch not found within the search distance",
    10: "homing failed: second limit switch of a dual axis not found",
}


def error_text(code: int) -> str:
    return f"error {code}: {ERRORS.get(code, 'unknown controller error')}"


def alarm_text(code: int) -> str:
    return f"alarm {code}: {ALARMS.get(code, 'unknown alarm')}"
