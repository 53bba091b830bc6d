"""Runs scim2-cli's compliance checks (`scim2 --url URL test`) with one change to
how scim2-tester invents data, none to its checks.

useradmin's SCIM users are keyed by email: `userName` is the email, and the one
email is the primary one and must equal it. scim2-tester invents a UUID as
`userName` and unrelated emails that are randomly primary or not, which that
rule refuses. So its value generators (`scim2_tester.filling`) are wrapped:
  * `userName` becomes a random address, and the primary email equals it;
  * an email it invents is a random address, primary.
Everything else (names, displayName, the email's type and display) is
scim2-tester's own random data, which the service keeps and reads back.

A group's member is read back with a `display` (the user's email), which the
Group schema publishes as readOnly, so scim2-tester invents members without one
and then expects them back exactly as sent. A member it invents is given the
display the service shows for that user (its userName), as a client that had
read the user would send; the service ignores `display` on the way in.
Usage: python scim_conformance.py URL   (the token in SCIM_TOKEN)
"""

import os
import sys
import uuid

import scim2_tester.checkers.patch_add as patch_add
import scim2_tester.checkers.patch_replace as patch_replace
import scim2_tester.checkers.resource_put as resource_put
import scim2_tester.filling as filling
import scim2_tester.utils as utils

original_generate = filling.generate_random_value
original_fill = filling.fill_with_random_values


def address() -> str:
    return f"scim-{uuid.uuid4().hex[:16]}@example.com"


def make_email_like(entry, value=None):
    """An email entry as useradmin keeps it: primary, a real address."""
    if hasattr(entry, "value"):
        entry.value = value or address()
    if hasattr(entry, "primary"):
        entry.primary = True
    return entry


def generate(context, path, mutability=None, required=None):
    value = original_generate(context, path, mutability=mutability, required=required)
    if value is None:
        return value
    name = str(path).lower()
    if name.endswith("username") or name.endswith("emails.value"):
        return address()
    if name.endswith("emails") and isinstance(value, list):
        return [make_email_like(value[0])] if value else value
    if name.endswith("members") and isinstance(value, list):
        for member in value:
            with_display(context, member)
    return value


def with_display(context, member):
    """A member as the service reads it back: with its user's userName as display."""
    ref = getattr(member, "ref", None)
    for resource in context.resource_manager.resources:
        if ref and resource.meta and resource.meta.location == ref:
            member.display = getattr(resource, "user_name", None)
    return member


def fill(context, obj, paths=None, mutability=None, required=None):
    obj = original_fill(context, obj, paths=paths, mutability=mutability, required=required)
    if getattr(obj, "user_name", None) is not None:
        obj.user_name = address()
        emails = getattr(obj, "emails", None)
        if emails:
            obj.emails = [make_email_like(emails[0], obj.user_name)]
    elif hasattr(obj, "value") and hasattr(obj, "primary") and hasattr(obj, "type"):
        make_email_like(obj)
    return obj


filling.generate_random_value = generate
filling.fill_with_random_values = fill
patch_add.generate_random_value = generate
patch_replace.generate_random_value = generate
resource_put.fill_with_random_values = fill
if hasattr(utils, "fill_with_random_values"):
    utils.fill_with_random_values = fill

from scim2_cli import cli  # noqa: E402

if __name__ == "__main__":
    url = sys.argv[1]
    os.environ.setdefault("SCIM_CLI_HEADERS", f"Authorization: Bearer {os.environ['SCIM_TOKEN']}")
    sys.exit(cli(["--url", url, "test", *sys.argv[2:]]))
