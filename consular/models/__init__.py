"""The domain schema shared by every audience."""

from consular.models.appointment import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentService,
    ManageToken,
    Status,
    appointment_slot,
)
from consular.models.audit import AuditEntry
from consular.models.base import Base, UTCDateTime, now_utc
from consular.models.draft import BookingDraft
from consular.models.email_text import EmailText
from consular.models.figures import DailyFigure, DailyServiceFigure
from consular.models.lottery import (
    EntryStatus,
    LotteryEntry,
    LotteryEntryToken,
    LotteryEvent,
    LotteryRelease,
    ReleaseState,
    lottery_entry_service,
    lottery_release_service,
)
from consular.models.office import Office
from consular.models.origin import AppointmentOrigin
from consular.models.outbox import MailStatus, OutboxMessage
from consular.models.page_versions import DayPageVersion, OfficePageVersion
from consular.models.proof_of_work import SpentProof
from consular.models.queue import (
    OPEN_TICKET_STATUSES,
    Desk,
    DeskClaim,
    Ticket,
    TicketCounter,
    TicketStatus,
)
from consular.models.schedule import Closure, ClosureKind, OpeningPeriod, Slot
from consular.models.second_factor import AuthenticatorApp, Passkey, RecoveryCode
from consular.models.service import ServiceType, office_service, service_combination
from consular.models.sign_in import SignInFailure, SpentSignInProof
from consular.models.user import PasswordHandover, Role, User, user_office
from consular.models.waitlist import (
    WaitlistEntry,
    WaitlistMode,
    WaitlistToken,
    WaitStatus,
    waitlist_entry_service,
)

__all__ = [
    "AuthenticatorApp",
    "Passkey",
    "RecoveryCode",
    "ACTIVE_STATUSES",
    "AuditEntry",
    "Desk",
    "DeskClaim",
    "OPEN_TICKET_STATUSES",
    "ReleaseState",
    "Ticket",
    "TicketCounter",
    "TicketStatus",
    "Appointment",
    "AppointmentOrigin",
    "AppointmentService",
    "Base",
    "BookingDraft",
    "Closure",
    "ClosureKind",
    "DailyFigure",
    "DailyServiceFigure",
    "DayPageVersion",
    "EmailText",
    "EntryStatus",
    "LotteryEntry",
    "LotteryEntryToken",
    "LotteryEvent",
    "LotteryRelease",
    "MailStatus",
    "ManageToken",
    "Office",
    "OfficePageVersion",
    "OpeningPeriod",
    "OutboxMessage",
    "PasswordHandover",
    "Role",
    "ServiceType",
    "Slot",
    "SignInFailure",
    "SpentProof",
    "SpentSignInProof",
    "Status",
    "User",
    "UTCDateTime",
    "WaitStatus",
    "WaitlistEntry",
    "WaitlistMode",
    "WaitlistToken",
    "appointment_slot",
    "lottery_entry_service",
    "lottery_release_service",
    "now_utc",
    "office_service",
    "service_combination",
    "user_office",
    "waitlist_entry_service",
]
