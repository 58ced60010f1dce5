"""The patients app's pages, by concern: record (the patient record), forlop (the board, henvisning
to avslutning) and equipment (the centre's device register); base holds what other apps subclass."""
