"""The portal's pages: thin views over responses.catalog and responses.workflow, a module per page family.

Each view parses, asks responses.policy / ResponseRequest.objects.visible_to / get_for_user
whether the user may (never a rule of its own), calls the workflow, and
renders. GET never changes anything; every action is a POST with a CSRF token.

- ``home``: the home page;
- ``new_request``: choose a task, fill its form, preview what KSC gets, file it;
- ``requests``: one request's page;
- ``decisions``: approve, reject, cancel, retry; the approval queue; the Approve link of e-mails and chat;
- ``comments``: questions and answers on a pending request;
- ``lists``, ``export``: "My requests", "All requests" and its CSV export;
- ``hosts``: the host search and the host page;
- ``attention``: the "Needs attention" page;
- ``common``: what the pages share (refusals, paging, the visible-or-404 rule).
"""
