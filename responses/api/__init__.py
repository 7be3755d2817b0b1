"""The REST API under /api/v1/: SIEMs file and follow requests through the same workflow as people.

Token authentication only (accounts.tokens); the same roles and the
same permission function (responses.policy.may) as the web UI.
"""
