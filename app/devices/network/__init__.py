"""Network printers (OctoPrint, Moonraker, PrusaLink, Bambu Lab, Duet) behind the one driver interface.

How a new driver plugs in:

1. **Protocol logic without I/O** in ``app/devices/network/<kind>_protocol.py``: pure functions or classes that
   turn the machine's wire messages into a ``MachineReport`` (``report.py``: phase, job file, progress, layer,
   time left, temperatures as telemetry names) and build the requests to send. Tested by feeding messages.
2. **The driver** in ``app/devices/network/<kind>.py``: subclass ``NetworkDriver`` (``driver.py``), set ``kind``,
   ``label``, ``credential_name`` and ``secret_fields``, and fill in the hooks:
   - ``_session()``: open the link, read the whole state, ``self._report(report)``, ``self._connected()``, then
     follow the machine (push or polling) calling ``_report`` until the link drops. Raise ``CredentialsRefused``
     for a refused key (one alert, no retry), ``Unreachable`` / ``BadReply`` / ``DeviceError`` otherwise
     (OFFLINE, one alert per outage, reconnect with capped jittered backoff). Put every wait under a timeout.
   - ``_upload_and_start(path, remote)``: send the file under the name ``remote`` (it carries the job id, so the
     job is recognised after a lost link or a restart and is never started twice) and start it.
   - ``_request_pause/_resume/_cancel``, ``_request_estop`` (returns what the machine does after it, for the
     operator's alert), ``_send_gcode`` (calibration), ``_close``, and ``probe()`` returning ``MachineInfo``
     (name, model, firmware and the capabilities the machine reports) for ``imewe nodes add`` and the dialog.
   The base does the rest: the connection loop, state mapping (through ``JobTracker`` in ``tracker.py``),
   telemetry and job progress events, the one-time alert for refused credentials, OFFLINE with the job held in
   place when the machine goes away, and picking the job up again when it returns.
3. **Register it**: one line in ``NETWORK_DRIVERS`` in ``app/devices/factory.py`` (``kind → "module:Class"``,
   imported when first used); bootstrap's ``driver_for`` then builds it for every node with ``driver == kind``
   using the secrets in ``SecretStore``.
4. **An emulator** (for protocols with no installable real peer) in ``app/devices/emulators/``, a separate process
   on 127.0.0.1 whose docstring names the public document it follows; tests and ``benchmarks/connectors.py``
   start it.

Secrets (keys, access codes, passwords, pinned certificates) live in ``SecretStore`` (``secrets.py``) under the
home's ``keys/machines/<node id>.json`` (0600); never log them, never put them in a message.
"""
