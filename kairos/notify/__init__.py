"""Notifications: Slack (slack-sdk), e-mail (smtplib) and the alert fan-out."""
