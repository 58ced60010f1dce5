"""Writes of patient data, one module per concern (the names callers use are re-exported here):

- `record`    – the patient record and who may see it (fastlege permission, shared specialists)
- `status`    – the forløp's status history (pause, resume, end …) and the status derived from it
- `referrals` – henvisning, vurdering, vedtak (klage) and samtykke, before oppstart
- `equipment` – the centre's device register, kits and loans (and the loan behind a device_serial)
- `oppstart`  – oppstart (loans, training, trial period) and avslutning (devices taken back)
- `fastlege`  – which fastlege a patient may have (offered list, explicit choice outside it), and setting it
- `contact_info` – the patient's phone and pårørende (the call sheet)
- `evaluation` – evaluering of the forløp (continue, adjust, end); triage and ebp do their part as receivers

- `access_log_pdf` – innsyn i logg as a letter to the patient, made in the background (patients.tasks)

Who may take each step is not decided here: every module asks patients.access (the policy the pages and
templates ask too).
"""

from patients.services.access_log_pdf import (
    ACCESS_LOG_PDF_ROWS,
    ACCESS_LOG_PDF_TTL,
    AccessLogPdfJob,
    access_log_pdf_file,
    access_log_pdf_job,
    access_log_pdf_make,
    access_log_pdf_start,
)
from patients.services.contact_info import ContactInfoRefused, contact_info_set
from patients.services.equipment import (
    EquipmentRefused,
    EquipmentRoleRequired,
    ReturnCondition,
    device_clean,
    device_discard,
    device_register,
    device_return,
    devices_import_csv,
    devices_lend,
    free_devices,
    kit_create,
    kit_for,
    kit_proposal,
    loan_for_serial,
    loans_by_serial,
    serial_key,
)
from patients.services.evaluation import (
    AdjustRefused,
    Evaluation,
    EvaluationOutcome,
    evaluation_record,
    evaluation_recorded,
)
from patients.services.fastlege import (
    GP_NOT_FOUND,
    GP_NOT_OFFERED,
    FastlegeRefused,
    FastlegeRoleRequired,
    fastlege_check,
    fastlege_find,
    fastlege_label,
    fastlege_named,
    fastlege_search,
    offered_fastleger,
    patient_gp_set,
)
from patients.services.oppstart import evaluation_next_set, patient_end, patient_start
from patients.services.record import (
    GP_PERMISSION,
    SHARE_PERMISSION,
    gp_permission_sync,
    patient_create,
    patient_share_with,
)
from patients.services.referrals import (
    ReferralRefused,
    ReferralRoleRequired,
    appeal_decide,
    appeal_register,
    assessment_record,
    consent_given,
    consent_record,
    decision_preview,
    decision_record,
    referral_register,
)
from patients.services.status import (
    StatusRefused,
    StatusRoleRequired,
    referral_change_record,
    status_change_record,
    status_changed,
    status_of,
)

__all__ = [
    "ACCESS_LOG_PDF_ROWS",
    "ACCESS_LOG_PDF_TTL",
    "GP_NOT_FOUND",
    "GP_NOT_OFFERED",
    "GP_PERMISSION",
    "SHARE_PERMISSION",
    "AccessLogPdfJob",
    "AdjustRefused",
    "ContactInfoRefused",
    "EquipmentRefused",
    "EquipmentRoleRequired",
    "Evaluation",
    "EvaluationOutcome",
    "FastlegeRefused",
    "FastlegeRoleRequired",
    "ReferralRefused",
    "ReferralRoleRequired",
    "ReturnCondition",
    "StatusRefused",
    "StatusRoleRequired",
    "access_log_pdf_file",
    "access_log_pdf_job",
    "access_log_pdf_make",
    "access_log_pdf_start",
    "appeal_decide",
    "appeal_register",
    "assessment_record",
    "consent_given",
    "consent_record",
    "contact_info_set",
    "decision_preview",
    "decision_record",
    "device_clean",
    "device_discard",
    "device_register",
    "device_return",
    "devices_import_csv",
    "devices_lend",
    "evaluation_next_set",
    "evaluation_record",
    "evaluation_recorded",
    "fastlege_check",
    "fastlege_find",
    "fastlege_label",
    "fastlege_named",
    "fastlege_search",
    "free_devices",
    "gp_permission_sync",
    "kit_create",
    "kit_for",
    "kit_proposal",
    "loan_for_serial",
    "loans_by_serial",
    "offered_fastleger",
    "patient_create",
    "patient_end",
    "patient_gp_set",
    "patient_share_with",
    "patient_start",
    "referral_change_record",
    "referral_register",
    "serial_key",
    "status_change_record",
    "status_changed",
    "status_of",
]
