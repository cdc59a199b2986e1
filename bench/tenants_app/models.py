"""django-tenants' tenant and domain models, for bench/fleet.py's peer."""

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    name = models.CharField(max_length=100)
    # The benchmark creates the schemas itself, as for every contender.
    auto_create_schema = False


class Domain(DomainMixin):
    pass
