"""The logging SDK and what runs beside a training process: recorder, capture, sysmon."""
