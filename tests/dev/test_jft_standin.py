"""The journaling service's stand-in (dho/dev/jft.py) refuses what JFT refuses, by hand-made
requests with real HelseID tokens from the HelseID stand-in: no DPoP token, another scope, a body
over 1 MB, not FHIR JSON, not a document, a real (not synthetic) national id; and it serves the
EPJ's side — the read API, the acknowledgement and the status the sender follows."""

import datetime
import json

import pytest
import requests

from patients import national_id
from tenants.helseid import HelseIdClient
from tests.conftest import STANDIN_TWO_KOMMUNER
from tests.dev.raw_http import raw_request
from tests.factories import synthetic_national_id

ORGNR = "312229544"
FHIR = {"Content-Type": "application/fhir+json"}


def _document(identifier: str, fnr: str) -> dict:
    patient = {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1",
                                                                      "value": fnr}]}  # fmt: skip
    composition = {
        "resourceType": "Composition",
        "id": "c1",
        "status": "final",
        "type": {"text": "Notat"},
        "subject": {"reference": "urn:uuid:8c8c4ea6-3f1e-4b1e-9a53-6f0a8d1e1a01"},
        "date": "2026-01-01T10:00:00+01:00",
        "author": [{"display": "Sykepleier"}],
        "title": "Notat",
    }
    return {
        "resourceType": "Bundle",
        "type": "document",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": identifier},
        "timestamp": "2026-01-01T10:00:00+01:00",
        "entry": [
            {"fullUrl": "urn:uuid:8c8c4ea6-3f1e-4b1e-9a53-6f0a8d1e1a00", "resource": composition},
            {"fullUrl": "urn:uuid:8c8c4ea6-3f1e-4b1e-9a53-6f0a8d1e1a01", "resource": patient},
        ],
    }


@pytest.fixture
def helseid(standins):
    return HelseIdClient.from_environ(standins.environ())


@pytest.fixture
def hooks(standins):
    def call(path, **body):
        return requests.post(f"{standins.jft_base_url}{path}", json=body, verify=str(standins.ca_file), timeout=10)

    call("/_standin/config", ack_delay=0, epj=False)
    call("/_standin/faults")
    yield call
    call("/_standin/config", ack_delay=0, epj=True)


def _post(helseid, standins, body, headers=FHIR, path="/v1/Bundle"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return helseid.request("POST", f"{standins.jft_base_url}{path}", orgnr=ORGNR, data=data, headers=headers)


def test_it_refuses_a_request_without_a_dpop_token(standins, hooks):
    response = requests.post(f"{standins.jft_base_url}/v1/Bundle", data=b"{}", headers=FHIR,
                             verify=str(standins.ca_file), timeout=10)  # fmt: skip
    assert response.status_code == 401 and "DPoP" in response.headers["WWW-Authenticate"]


def test_it_asks_for_its_dpop_nonce_and_the_client_follows_it_once(helseid, standins, hooks):
    """As NHN's APIs do (RFC 9449 §9): a proof without the server's nonce is 401 `use_dpop_nonce`
    with a `DPoP-Nonce`; the platform's client sends it again with the nonce, and from then on at
    once."""
    url = f"{standins.jft_base_url}/v1/Bundle"

    def counts():
        answer = requests.get(f"{standins.jft_base_url}/_standin/requests", verify=str(standins.ca_file), timeout=10)
        return answer.json().get("refused:use_dpop_nonce", 0)

    bare = helseid.dpop_headers("POST", url, helseid.access_token(orgnr=ORGNR))
    response = requests.post(url, data=b"{}", headers=FHIR | bare, verify=str(standins.ca_file), timeout=10)
    assert response.status_code == 401 and 'error="use_dpop_nonce"' in response.headers["WWW-Authenticate"]
    assert response.headers["DPoP-Nonce"]
    before = counts()
    assert _post(helseid, standins, _document("urn:uuid:9", synthetic_national_id())).status_code == 202
    assert counts() - before == 1
    assert _post(helseid, standins, _document("urn:uuid:10", synthetic_national_id())).status_code == 202
    assert counts() - before == 1


def test_it_refuses_a_token_for_another_api(standins, hooks):
    """Its `aud` is that API's (HelseID names the API a scope belongs to), which JFT refuses as a
    token that is not for it: 401 invalid_token, before it looks at the scope."""
    rsa = next(c for c in standins.clients if c.client_id == "dho-test-rsa")
    other = HelseIdClient.from_environ(standins.environ() | {"DHO_HELSEID_CLIENT_ID": rsa.client_id,
                                       "DHO_HELSEID_KEY_FILE": str(rsa.key_file)})  # fmt: skip
    response = other.request("POST", f"{standins.jft_base_url}/v1/Bundle", orgnr=STANDIN_TWO_KOMMUNER[0],
                             scope="nhn:test/other", data=b"{}", headers=FHIR)  # fmt: skip
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "nhn:jft (aud)" in response.json()["error_description"]


def test_it_refuses_a_body_over_one_megabyte_wrong_json_and_a_wrong_content_type(helseid, standins, hooks):
    assert _post(helseid, standins, b"x" * 1_000_001).status_code == 413
    assert _post(helseid, standins, _document("urn:uuid:1", synthetic_national_id()),
                 headers={"Content-Type": "text/plain"}).status_code == 415  # fmt: skip
    response = _post(helseid, standins, b"{not json")
    assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome"


def test_a_body_of_no_declared_length_is_refused_unread_never_read_to_its_end(helseid, standins, hooks):
    """`Content-Length: -1` was read as «to the end of the connection»: past the 1 MB limit, for as
    long as the sender kept sending. A malformed length, two lengths, or a chunked body: refused."""
    url = f"{standins.jft_base_url}/v1/Bundle"
    body = json.dumps(_document("urn:uuid:8", synthetic_national_id())).encode() + b" " * 20_000
    for length, status in (("-1", 400), ("12abc", 400), ("10\r\nContent-Length: 20", 400), (None, 411)):
        auth = helseid.dpop_headers("POST", url, helseid.access_token(orgnr=ORGNR))
        head = "".join(f"{name}: {value}\r\n" for name, value in auth.items())
        head += "Content-Type: application/fhir+json\r\nConnection: close\r\n"
        head += f"Content-Length: {length}\r\n" if length else "Transfer-Encoding: chunked\r\n"
        answer = raw_request(url, str(standins.ca_file), head, body)
        assert answer[0] == status, (length, answer[1][:300])
    events = requests.get(f"{standins.jft_base_url}/_standin/events", verify=str(standins.ca_file), timeout=10)
    assert "urn:uuid:8" not in [event["identifier"] for event in events.json()]


def test_it_refuses_what_is_not_a_document_with_an_operation_outcome(helseid, standins, hooks):
    collection = _document("urn:uuid:2", synthetic_national_id()) | {"type": "collection"}
    response = _post(helseid, standins, collection)
    assert response.status_code == 400
    assert any("Bundle.type" in i["diagnostics"] for i in response.json()["issue"])
    unknown = _document("urn:uuid:3", synthetic_national_id()) | {"colour": "red"}
    assert _post(helseid, standins, unknown).status_code == 400  # strict: an unknown element


def test_it_refuses_a_document_that_breaks_r4s_document_invariants(helseid, standins, hooks):
    """What fhir.resources lets through (it reads no FHIRPath) and a FHIR server refuses: bdl-9,
    bdl-10, bdl-11 and bdl-7, each named in the OperationOutcome; nothing is taken."""
    fnr = synthetic_national_id()
    good = _document("urn:uuid:7", fnr)
    no_system = good | {"identifier": {"value": "urn:uuid:7"}}
    no_timestamp = {k: v for k, v in good.items() if k != "timestamp"}
    patient_first = good | {"entry": good["entry"][::-1]}
    twice = good | {"entry": [*good["entry"], good["entry"][1]]}
    before = len(requests.get(f"{standins.jft_base_url}/_standin/events", verify=str(standins.ca_file),
                              timeout=10).json())  # fmt: skip
    for document, rule in ((no_system, "bdl-9"), (no_timestamp, "bdl-10"), (patient_first, "bdl-11"),
                           (twice, "bdl-7")):  # fmt: skip
        response = _post(helseid, standins, document)
        assert response.status_code == 400, rule
        assert any(rule in issue["diagnostics"] for issue in response.json()["issue"]), response.text
    after = requests.get(f"{standins.jft_base_url}/_standin/events", verify=str(standins.ca_file), timeout=10)
    assert len(after.json()) == before
    assert _post(helseid, standins, good).status_code == 202


def test_the_test_environment_takes_synthetic_national_ids_only(helseid, standins, hooks):
    real = national_id.synthetic(datetime.date(1960, 5, 5), 123, month_offset=0)
    response = _post(helseid, standins, _document("urn:uuid:4", real))
    assert response.status_code == 400 and "syntetiske" in response.text


def test_the_epj_reads_and_acknowledges_and_the_sender_follows_the_status(helseid, standins, hooks):
    identifier = "urn:uuid:5e2b0c1a-0000-4000-8000-000000000005"
    response = _post(helseid, standins, _document(identifier, synthetic_national_id()))
    assert response.status_code == 202
    status_url = response.headers["Location"]
    event_id = status_url.split("/")[-2]
    assert helseid.request("GET", status_url, orgnr=ORGNR).json()["status"] == "registered"
    page = helseid.request("GET", f"{standins.jft_base_url}/v1/Bundle?_count=100", orgnr=ORGNR).json()
    assert identifier in [e["resource"]["identifier"]["value"] for e in page["entry"]]
    assert helseid.request("GET", status_url, orgnr=ORGNR).json()["status"] == "read"
    ack = helseid.request("POST", f"{standins.jft_base_url}/v1/Bundle/{event_id}/$journaling-acknowledged",
                          orgnr=ORGNR)  # fmt: skip
    assert ack.status_code == 200
    assert helseid.request("GET", status_url, orgnr=ORGNR).json()["status"] == "journaled"


def test_the_read_api_refuses_a_page_size_out_of_range(helseid, standins, hooks):
    """`_count=0` ended the connection unanswered (the next-page link of an empty page), a negative
    one gave all but the last events: both 400, as a FHIR server answers a bad search parameter."""
    for count in ("0", "-1", "x"):
        url = f"{standins.jft_base_url}/v1/Bundle?_count={count}"
        response = helseid.request("GET", url, orgnr=ORGNR)
        assert response.status_code == 400 and response.json()["resourceType"] == "OperationOutcome", count


def test_the_fault_hook_answers_the_next_posts_with_the_status_asked(helseid, standins, hooks):
    hooks("/_standin/faults", status=503, count=2)
    document = _document("urn:uuid:6", synthetic_national_id())
    assert [_post(helseid, standins, document).status_code for _ in range(3)] == [503, 503, 202]


def test_a_restarted_standin_still_answers_the_status_of_what_arrived_before(tmp_path):
    """`make run` again: the stand-in is a new process on a new port with new keys, and its events
    are read back from its var directory (dho/dev/jft.py's EventStore) — a journaled event's status
    still answers, and one the EPJ had not read yet is acknowledged by the new process's EPJ."""
    import time

    from dho.dev import standins as launcher

    def post_and_status(env, helseid, identifier):
        response = _post(helseid, env, _document(identifier, synthetic_national_id()))
        assert response.status_code == 202
        return response.headers["Location"].split("/")[-2]

    def events(env):
        return requests.get(f"{env.jft_base_url}/_standin/events", verify=str(env.ca_file), timeout=10).json()

    with launcher.running(tmp_path, jft_ack_delay=0.0) as first:
        helseid = HelseIdClient.from_environ(first.environ())
        requests.post(f"{first.jft_base_url}/_standin/config", json={"epj": False}, verify=str(first.ca_file),
                      timeout=10).raise_for_status()  # fmt: skip
        waiting = post_and_status(first, helseid, "urn:uuid:5e2b0c1a-0000-4000-8000-0000000000a1")
        journaled = post_and_status(first, helseid, "urn:uuid:5e2b0c1a-0000-4000-8000-0000000000a2")
        helseid.request("POST", f"{first.jft_base_url}/v1/Bundle/{journaled}/$journaling-acknowledged",
                        orgnr=ORGNR).raise_for_status()  # fmt: skip
        before = events(first)
        first_pid, first_base = first.jft_pid, first.jft_base_url
    assert (tmp_path / "standins" / "jft-events.sqlite3").exists()

    with launcher.running(tmp_path, jft_ack_delay=0.0) as second:
        assert second.jft_pid != first_pid and second.jft_base_url != first_base, "a new process, a new port"
        helseid = HelseIdClient.from_environ(second.environ())

        def status(event_id):
            url = f"{second.jft_base_url}/v1/Bundle/{event_id}/$status"
            return helseid.request("GET", url, orgnr=ORGNR).json()["status"]

        assert status(journaled) == "journaled"
        deadline = time.monotonic() + 10
        while status(waiting) != "journaled":  # the new process's EPJ reads what was waiting
            assert time.monotonic() < deadline, status(waiting)
            time.sleep(0.1)
        kept = {e["id"]: (e["identifier"], e["sha256"]) for e in events(second)}
        assert kept == {e["id"]: (e["identifier"], e["sha256"]) for e in before}, "the same events, the same bytes"
        other = post_and_status(second, helseid, "urn:uuid:5e2b0c1a-0000-4000-8000-0000000000a3")
        assert other not in (waiting, journaled) and len(events(second)) == 3
