"""A short typed program against the local run, through the Python client generated from
shared/api/openapi.json (openapi-python-client): create, list, get, respond with If-Match, a
stale If-Match (412) and a bad field (422) parsed as Problems. mypy --strict checks it.

    python walk.py <base URL> <partner token> <support token>
"""

import sys

from ledgerdesk_client import AuthenticatedClient
from ledgerdesk_client.api.service_requests import (
    create_customer_request,
    get_request,
    list_requests,
    update_request,
)
from ledgerdesk_client.models import (
    Category,
    ContactInput,
    CreateCustomerRequest,
    CreateCustomerRequestSupportTopicIdType0,
    Page,
    Problem,
    Product,
    RespondAction,
    ServiceRequest,
    Severity,
    SlaState,
    Status,
)

CUSTOMER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def request(title: str) -> CreateCustomerRequest:
    return CreateCustomerRequest(
        category=Category.TECHNICAL,
        contact=ContactInput(name="Erika Partner", email="erika@partner.example"),
        description="No VM in West Europe answers since 10:10 UTC.",
        language="de-DE",
        product=Product.AZURE,
        severity=Severity.A,
        title=title,
        support_topic_id=CreateCustomerRequestSupportTopicIdType0.AZURE_VM_CONNECTIVITY,
    )


def main(base: str, partner_token: str, support_token: str) -> None:
    partner = AuthenticatedClient(base_url=base, token=partner_token, raise_on_unexpected_status=True)
    support = AuthenticatedClient(base_url=base, token=support_token, raise_on_unexpected_status=True)

    created = create_customer_request.sync(customer_id=CUSTOMER, client=partner, body=request("Production VMs unreachable"))
    assert isinstance(created, ServiceRequest), created
    assert created.status == Status.OPEN and created.sla.state == SlaState.PENDING, created
    assert created.sla.calendar == "de", created.sla

    page = list_requests.sync(client=partner, limit=50)
    assert isinstance(page, Page), page
    assert any(item.id == created.id for item in page.items), page

    got = get_request.sync_detailed(id=created.id, client=support)
    assert isinstance(got.parsed, ServiceRequest), got
    etag = got.headers["etag"]
    assert etag == f'"{got.parsed.version}"', etag

    answered = update_request.sync(
        id=created.id,
        client=support,
        body=RespondAction(action="respond", message="We are on it."),
        if_match=etag,
    )
    assert isinstance(answered, ServiceRequest), answered
    assert answered.status == Status.IN_PROGRESS and answered.sla.state == SlaState.MET, answered
    assert answered.version == got.parsed.version + 1

    stale = update_request.sync(
        id=created.id,
        client=support,
        body=RespondAction(action="respond", message="Again."),
        if_match=etag,
    )
    assert isinstance(stale, Problem) and stale.status == 412, stale

    bad = create_customer_request.sync(customer_id=CUSTOMER, client=partner, body=request(""))
    assert isinstance(bad, Problem) and bad.status == 422, bad
    assert [e.field for e in bad.errors] == ["$.title"], bad.errors
    print(f"python client: created {created.id}, listed, got, responded (version {answered.version}), 412 and 422 parsed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
