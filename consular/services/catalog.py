"""The catalogue administrators keep: service types and which of them share a visit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from consular.models import ServiceType


def set_combinations(session: Session, service: ServiceType, others: list[ServiceType]) -> None:
    """Make `service` combinable with exactly `others`, keeping the relation symmetric."""
    wanted = {other.id: other for other in others if other.id != service.id}
    for previous in list(service.combinable_with):
        if previous.id not in wanted:
            service.combinable_with.remove(previous)
            if service in previous.combinable_with:
                previous.combinable_with.remove(service)
    current = {s.id for s in service.combinable_with}
    for other in wanted.values():
        if other.id not in current:
            service.combinable_with.append(other)
        if all(s.id != service.id for s in other.combinable_with):
            other.combinable_with.append(service)
    session.flush()
