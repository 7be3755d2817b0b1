from __future__ import annotations

from django.urls import path

from accounts import trail_views
from audit import views as audit_views
from responses import policy, workflow
from responses.views import attention, comments, decisions, export, home, hosts, isolation, lists, new_request, requests

app_name = "responses"
urlpatterns = [
    path("", home.home, name="home"),
    path("requests/new/", new_request.new_request, name="new"),
    path("requests/mine/", lists.my_requests, name="mine"),
    path("requests/", lists.all_requests, name="all"),
    path("requests/export.csv", export.export_csv, name="export"),
    path("requests/<uuid:key>/", requests.request_detail, name="detail"),
    path("requests/<uuid:key>/approve/", decisions.act, {"action": workflow.APPROVE}, name="approve"),
    path("requests/<uuid:key>/reject/", decisions.act, {"action": workflow.REJECT}, name="reject"),
    path("requests/<uuid:key>/cancel/", decisions.act, {"action": workflow.CANCEL}, name="cancel"),
    path("requests/<uuid:key>/approve/confirm/", decisions.approve_link, name="approve_link"),
    path("requests/<uuid:key>/comment/", comments.add_comment, name="comment"),
    # Isolate until (responses/isolation.py): Release now, Hold, Extend, and deciding an extension.
    path("requests/<uuid:key>/release-now/", isolation.isolation_action, {"action": policy.RELEASE_NOW}, name="release_now"),
    path("requests/<uuid:key>/hold/", isolation.isolation_action, {"action": policy.HOLD}, name="hold"),
    path("requests/<uuid:key>/extend/", isolation.isolation_action, {"action": policy.EXTEND}, name="extend"),
    path("extensions/<uuid:key>/approve/", isolation.decide_extension, {"action": "approve"}, name="extension_approve"),
    path("extensions/<uuid:key>/reject/", isolation.decide_extension, {"action": "reject"}, name="extension_reject"),
    path("isolated/", isolation.isolated_now, name="isolated"),
    path("isolated/export.csv", isolation.isolated_csv, name="isolated_export"),
    path("requests/<uuid:key>/retry/", decisions.act, {"action": workflow.RETRY}, name="retry"),
    path("approvals/", decisions.approval_queue, name="queue"),
    path("attention/", attention.needs_attention, name="attention"),
    path("hosts/", hosts.host_list, name="hosts"),
    path("hosts/search", hosts.host_search, name="host_search"),
    path("hosts/<str:server>/<str:host_id>/", hosts.host_detail, name="host"),
    # Links from before several servers: the host on the user's default server.
    path("hosts/<str:host_id>/", hosts.host_on_default_server, name="host_default"),
    path("audit/export.jsonl", audit_views.export_jsonl, name="audit_export"),
    path("audit/accounts/", trail_views.account_events, name="account_events"),
    path("audit/chain/", audit_views.chain_status, name="audit_chain"),
    path("audit/chain/history/", audit_views.chain_history, name="audit_chain_history"),
]
