"""What supervisors read: subjects and plain-text bodies of alert messages (Vietnamese, one
English line), with the durations and local times they quote."""

from __future__ import annotations

from datetime import datetime, timedelta

from agents.notify.channel import one_line
from events import Alert, AlertLevel, AlertScope, Recipient
from workflows.calendar import VN_TZ

#: Subject prefix per level (Vietnamese, as supervisors read it).
SUBJECT_PREFIX: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "[SẮP ĐẾN HẠN]",
    AlertLevel.OVERDUE: "[QUÁ HẠN]",
    AlertLevel.STATUTORY_BREACH: "[VI PHẠM THỜI HẠN LUẬT ĐỊNH]",
    AlertLevel.REMINDER: "[NHẮC LẠI: QUÁ HẠN]",
    AlertLevel.PREDICTED_LATE: "[DỰ BÁO TRỄ HẠN]",
}
_HEADLINE_VI: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "sắp đến hạn xử lý",
    AlertLevel.OVERDUE: "đã quá hạn xử lý theo thời hạn cam kết",
    AlertLevel.STATUTORY_BREACH: "đã vượt thời hạn giải quyết theo quy định của pháp luật",
    AlertLevel.REMINDER: "vẫn quá hạn xử lý theo thời hạn cam kết, chưa có kết quả",
    AlertLevel.PREDICTED_LATE: "có khả năng trễ hạn theo thời hạn cam kết",
}
_HEADLINE_EN: dict[AlertLevel, str] = {
    AlertLevel.DUE_SOON: "is due soon",
    AlertLevel.OVERDUE: "is overdue",
    AlertLevel.STATUTORY_BREACH: "is past its statutory time limit",
    AlertLevel.REMINDER: "is still overdue, with no result yet",
    AlertLevel.PREDICTED_LATE: "will probably be late",
}


def procedure_label(alert: Alert) -> str:
    return one_line(alert.procedure_name or "") or alert.procedure


def subject(alert: Alert) -> str:
    """``[QUÁ HẠN] Hồ sơ 000.00.20.H33-260427-0001 — Cấp giấy phép xây dựng``."""
    return f"{SUBJECT_PREFIX[alert.level]} Hồ sơ {alert.dossier_id} — {procedure_label(alert)}"


def local_time(instant: datetime) -> str:
    """``27/04/2026 17:30``, Asia/Ho_Chi_Minh."""
    return instant.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def _split(delta: timedelta) -> tuple[int, int, int]:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return days, hours, mins


def duration_vi(delta: timedelta) -> str:
    """Wall-clock, floored: ``2 ngày 3 giờ``, ``5 giờ``, ``45 phút`` (minutes only under a day)."""
    days, hours, mins = _split(delta)
    parts = [f"{days} ngày"] if days else []
    if hours:
        parts.append(f"{hours} giờ")
    if mins and not days:
        parts.append(f"{mins} phút")
    return " ".join(parts) or "dưới 1 phút"


def duration_en(delta: timedelta) -> str:
    days, hours, mins = _split(delta)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [unit(days, "day")] if days else []
    if hours:
        parts.append(unit(hours, "hour"))
    if mins and not days:
        parts.append(unit(mins, "minute"))
    return " ".join(parts) or "less than a minute"


def status_vi(alert: Alert) -> str:
    """``quá hạn 2 ngày 3 giờ`` once the due instant passed, ``còn 5 giờ đến hạn`` before."""
    late = alert.detected_at - alert.due_at
    if late >= timedelta(0):
        return f"quá hạn {duration_vi(late)}"
    return f"còn {duration_vi(-late)} đến hạn"


def status_en(alert: Alert) -> str:
    late = alert.detected_at - alert.due_at
    if late >= timedelta(0):
        return f"late by {duration_en(late)}"
    return f"due in {duration_en(-late)}"


def email_body(alert: Alert, recipient: Recipient) -> str:
    """The plain-text body: Vietnamese, then one English line."""
    what = "Bước xử lý của hồ sơ" if alert.scope is AlertScope.STEP else "Hồ sơ"
    scope = "bước xử lý" if alert.scope is AlertScope.STEP else "toàn bộ hồ sơ"
    step_label = "Bước" if alert.scope is AlertScope.STEP else "Bước hiện tại"
    predicted = []
    if alert.level is AlertLevel.PREDICTED_LATE:
        # Its step is the one expected to be the bottleneck, not necessarily the current.
        step_label = "Bước dự kiến chậm"
        if alert.probability_late is not None:
            predicted.append(("Khả năng trễ hạn", f"{alert.probability_late:.0%}"))
        if alert.predicted_finish_at is not None:
            finish = f"{local_time(alert.predicted_finish_at)} (giờ Việt Nam)"
            predicted.append(("Dự kiến xong", finish))
    rows = [
        ("Hồ sơ", alert.dossier_id),
        ("Thủ tục", f"{procedure_label(alert)} ({alert.procedure})"),
        ("Phạm vi", scope),
        *([(step_label, alert.step)] if alert.step else []),
        ("Cơ quan xử lý", alert.agency),
        ("Hạn xử lý", f"{local_time(alert.due_at)} (giờ Việt Nam)"),
        ("Phát hiện lúc", f"{local_time(alert.detected_at)} (giờ Việt Nam)"),
        ("Tình trạng", status_vi(alert)),
        *predicted,
        ("Mã cảnh báo", alert.alert_id),
    ]
    width = max(len(label) for label, _ in rows) + 2
    where = f" at step {alert.step}" if alert.step else ""
    english = (
        f"English: dossier {alert.dossier_id} ({alert.procedure}) "
        f"{_HEADLINE_EN[alert.level]}{where}, agency {alert.agency}: due "
        f"{local_time(alert.due_at)} Asia/Ho_Chi_Minh, {status_en(alert)}."
    )
    lines = [
        f"Kính gửi {recipient.name},",
        "",
        f"{what} {alert.dossier_id} {_HEADLINE_VI[alert.level]}.",
        "",
        *(f"{label + ':':<{width}}{value}" for label, value in rows),
        "",
        english,
        "",
        "-- ",
        "Thư tự động từ hệ thống dossierflow; vui lòng không trả lời thư này.",
    ]
    return "\n".join(lines) + "\n"
