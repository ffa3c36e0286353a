"""Surviving field failures: `explain` (error numbers), `doctor` (read-only diagnosis), `canary` (NVM-wear
recipe), fault `campaign`s against the simulator. Modules: errno_tables, explain, firmware, findings,
doctor_rules (pure), doctor (I/O), manifest_compare, canary, campaign."""
