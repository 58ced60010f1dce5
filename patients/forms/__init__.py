"""The patients app's forms, by concern: record, forlop and equipment; base holds the shared fields
and `StepForm`, which other apps' forms build on."""
