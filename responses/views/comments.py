"""The request page's questions and answers (responses/comments.py): one POST, the page shows the thread."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from responses import comments
from responses.errors import InvalidRequest, NotAllowed, WrongStatus
from responses.views.common import _refused, _visible_or_404
from responses.views.requests import _detail_context


@login_required
@require_POST
def add_comment(request: HttpRequest, key: Any) -> HttpResponse:
    rr = _visible_or_404(request.user, key)
    text = request.POST.get("comment", "")
    try:
        comments.add(rr, user=request.user, text=text)
    except NotAllowed as exc:
        return _refused(request, exc.message)
    except (WrongStatus, InvalidRequest) as exc:
        rr.refresh_from_db()
        context = _detail_context(request, rr)
        if isinstance(exc, InvalidRequest):
            context.update(thread_errors=exc.errors["comment"], thread_value=text)
            return render(request, "responses/detail.html", context, status=400)
        context["action_error"] = exc.message
        return render(request, "responses/detail.html", context, status=409)
    messages.success(request, _("Your comment was added; the other side is told."))
    return redirect(reverse("responses:detail", kwargs={"key": rr.uuid}) + "#questions")
