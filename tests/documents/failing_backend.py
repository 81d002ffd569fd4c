"""An email backend whose server refuses every message (the tests' "failing backend")."""

from smtplib import SMTPRecipientsRefused

from django.core.mail.backends.base import BaseEmailBackend


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise SMTPRecipientsRefused(
            {m.to[0]: (550, b"mailbox unavailable") for m in email_messages}
        )
