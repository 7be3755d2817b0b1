from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from responses.api import isolation, schema, views  # noqa: F401  (importing schema registers the OpenAPI extensions)

app_name = "api"

router = SimpleRouter()
router.register("requests", views.ResponseRequestViewSet, basename="request")

urlpatterns = [
    # Isolate until (responses/isolation.py): before the router, whose detail route takes any text as an id.
    path("requests/<str:id>/isolation/", isolation.ScheduleView.as_view(), name="isolation"),
    path("requests/<str:id>/release-now/", isolation.ReleaseNowView.as_view(), name="release_now"),
    path("requests/<str:id>/hold/", isolation.HoldView.as_view(), name="hold"),
    path("requests/<str:id>/extend/", isolation.ExtendView.as_view(), name="extend"),
    path("extensions/<str:id>/approve/", isolation.DecideExtensionView.as_view(), name="extension_approve"),
    path("extensions/<str:id>/reject/", isolation.RejectExtensionView.as_view(), name="extension_reject"),
    path("isolated/", isolation.IsolatedNowView.as_view(), name="isolated"),
    *router.urls,
    path("tasks/", views.TaskCatalogView.as_view(), name="tasks"),
    path("hosts/", views.HostSearchView.as_view(), name="hosts"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # For people in a browser: log in to the portal first; "Authorize" takes a token for "Try it out".
    # The split view serves its start-up script as a file and our template drops the inline style:
    # the page keeps the portal's strict Content-Security-Policy (portal/security.py), no exception.
    path(
        "docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="responses/swagger_ui.html")
        ),
        name="docs",
    ),
]
