# One date and time format on every page, PDF and file: dd.mm.åååå and tt:mm (Django's own
# Norwegian locale writes «6. desember 2026» for DATE_FORMAT). Templates name these formats
# explicitly (`|date:"d.m.Y"`); tests/dho/test_date_formats.py keeps other formats out.
# What Python writes and reads is tenants.norwegian's (DATE, TIME, DATETIME); Django's display formats
# below say the same in its own letters (tests/tenants/test_norwegian.py compares them).
from tenants.norwegian import DATE, DATETIME, TIME

DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = "d.m.Y H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "d.m.Y"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
DATE_INPUT_FORMATS = [DATE, "%Y-%m-%d", "%d.%m.%y"]
DATETIME_INPUT_FORMATS = [DATETIME, f"{DATETIME}:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
TIME_INPUT_FORMATS = [TIME, f"{TIME}:%S", "%H.%M"]
