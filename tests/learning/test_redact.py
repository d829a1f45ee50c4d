"""Redaction: planted secrets of every kind disappear, ordinary text survives byte for byte."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoskill.errors import ConfigError
from autoskill.learning.redact import KINDS, Finding, Redactor, default_redactor

# (kind, text, secret) — each secret is a realistic fake value; the test asserts it is gone.
PLANTED = [
    ("private_key",
     "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
     "QyNTUxOQAAACDZ0Lr2sQpZ5o8m\n-----END OPENSSH PRIVATE KEY-----\ndone",
     "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"),
    ("private_key",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2v\n-----END RSA PRIVATE KEY-----",
     "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2v"),
    ("private_key",
     "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5MmZ9M\n-----END EC PRIVATE KEY-----",
     "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5MmZ9M"),
    ("private_key",
     "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0Yz7QBCADQk2Lw8h3JrB9\n=Xk3F\n-----END PGP PRIVATE KEY BLOCK-----",
     "lQOYBF0Yz7QBCADQk2Lw8h3JrB9"),
    ("private_key",  # truncated paste: no END line
     "here: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    ("api_key", "export OPENAI_API_KEY=sk-proj-4fKq9ZtR2mXw7LpB8sVn3HcY6dJe1TgUaQiOoP0", "4fKq9ZtR2mXw7LpB8sVn3HcY6dJe1TgUaQiOoP0"),
    ("api_key", "use sk-Zx81KqP0mB7vN4cR2tY9wL6sD3fG5hJ8kA1eU0iO for the old client", "Zx81KqP0mB7vN4cR2tY9wL6sD3fG5hJ8kA1eU0iO"),
    ("api_key", "ANTHROPIC_API_KEY: sk-ant-api03-Qw3rTy7UiOp1AsDfGh9JkLzXcVbNm5-aBcDeF_2gHiJ", "Qw3rTy7UiOp1AsDfGh9JkLzXcVbNm5"),
    ("api_key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("api_key", "session creds ASIAY34FZKBOKMUTVV7A in the log", "ASIAY34FZKBOKMUTVV7A"),
    ("api_key", "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("api_key", "git clone with ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12 please", "ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12"),
    ("api_key", "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU",
     "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
    ("api_key", "GITLAB glpat-xY9zA8bC7dE6fG5hI4jK in CI", "xY9zA8bC7dE6fG5hI4jK"),
    ("api_key", "slack bot xoxb-2048-1024-aBcDeFgHiJkLmNoPqRsTuVwX", "aBcDeFgHiJkLmNoPqRsTuVwX"),
    ("api_key", "charge with sk_live_51HqLyjWDarjtT1zdp7dcXkq0", "51HqLyjWDarjtT1zdp7dcXkq0"),
    ("api_key", "restricted rk_live_9fH3kLmN2pQ4rS6tU8vW0xY1", "9fH3kLmN2pQ4rS6tU8vW0xY1"),
    ("api_key", "stripe test key sk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("api_key", "maps key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    ("api_key", "HF_TOKEN hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("api_key", "//registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    ("api_key", "SENDGRID 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", "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc"),
    ("api_key", "ZHIPUAI_API_KEY=4f8a2b1c9d3e7f6a5b4c3d2e1f0a9b8c.Xk9mP2qR7sT4vW1y", "4f8a2b1c9d3e7f6a5b4c3d2e1f0a9b8c.Xk9mP2qR7sT4vW1y"),
    ("api_key", "my glm key is 0a1b2c3d4e5f60718293a4b5c6d7e8f9.AbCdEfGh12345678", "0a1b2c3d4e5f60718293a4b5c6d7e8f9.AbCdEfGh12345678"),
    ("jwt", "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c rest",
     "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"),
    ("bearer", "curl -H 'Authorization: Bearer 8f3kd92jfla0s9d8f7g6h5j4k3' https://api.example.com",
     "8f3kd92jfla0s9d8f7g6h5j4k3"),
    ("bearer", "Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQxMjM=", "dXNlcm5hbWU6cGFzc3dvcmQxMjM="),
    ("bearer", "send it as bearer a1b2c3d4e5f6g7h8 in the header", "a1b2c3d4e5f6g7h8"),
    ("password", "db password=Tr0ub4dor&3x then connect", "Tr0ub4dor"),
    ("password", "passwd: hunter2", "hunter2"),
    ("password", "mysql -u root pwd=s3cr3tP@ss", "s3cr3tP@ss"),
    ("password", "my password is correct-horse-battery-staple", "correct-horse-battery-staple"),
    ("password", '{"user": "bob", "password": "p4ss w0rd!"}', "p4ss w0rd!"),
    ("password", "PGPASSWORD=Zx9!qLm2 psql -h db", "Zx9!qLm2"),
    ("password", "client_secret=Q2xpZW50U2VjcmV0VmFsdWU", "Q2xpZW50U2VjcmV0VmFsdWU"),
    ("password", "refresh?access_token=ya29.a0AfH6SMBx3kLq&scope=all", "ya29.a0AfH6SMBx3kLq"),
    ("password", "MY_SERVICE_TOKEN = 'tok_9Xk2Lm4Pq7Rs'", "tok_9Xk2Lm4Pq7Rs"),
    ("password", "run deploy --password 'hunter 22'", "hunter 22"),
    ("password", "(password=hunter(2))", "hunter(2"),
    ("password", "数据库密码是Abc12345，请保存", "Abc12345"),
    ("url_credentials", "DATABASE_URL=postgres://admin:S3cure!Pass@db.internal:5432/prod", "S3cure!Pass"),
    ("url_credentials", "pip install from https://deploy:gl-tok3n-xyz@gitlab.example.com/simple", "gl-tok3n-xyz"),
    ("url_credentials", "broker amqp://guest:p@ss@rabbit:5672//", "p@ss"),
    ("generic_secret", "Xq8vL2pR9sT4wY7zB3nM6kJ1hG5fD0aC8eV2uI4oZ3", "Xq8vL2pR9sT4wY7zB3nM6kJ1hG5fD0aC8eV2uI4oZ3"),
    ("generic_secret", "the signing key Zk3Lm9Qp2Rx7Wv4Ty8Bn6Hc1Jd5Fg0Sa", "Zk3Lm9Qp2Rx7Wv4Ty8Bn6Hc1Jd5Fg0Sa"),
    ("generic_secret", "the deploy credential 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
    ("email", "write to jane.doe+alerts@example.co.uk today", "jane.doe+alerts@example.co.uk"),
    ("email", "contact: ops_team@mail.example.com.", "ops_team@mail.example.com"),
    ("phone", "call +44 20 7946 0958 after lunch", "7946 0958"),
    ("phone", "手机 +86 138 0013 8000", "138 0013 8000"),
    ("phone", "US office (555) 123-4567", "123-4567"),
    ("phone", "fax 555-123-4567.", "555-123-4567"),
    ("phone", "+1-202-555-0143 is the hotline", "202-555-0143"),
    ("phone", "ring +14155552671", "4155552671"),
    ("phone", "UK mobile 07700 900123", "07700 900123"),
    ("phone", "my phone: 13800138000", "13800138000"),
]

# Text that must come back byte-identical.
ORDINARY = [
    "In 1999 and again in 2024 we shipped.",
    "Released on 2024-01-15 at 12:30, rolled back 2024-01-16T08:15:00Z.",
    "Upgrade to 1.2.3, then v2.0.11; python3.11 is required.",
    "Server listens on localhost:8080 and 127.0.0.1:5432.",
    "It took 3 steps and processed 10000 rows with accuracy 0.95.",
    "Ping 192.168.1.10 and 10.0.0.255; IPv6 ::1 too.",
    "Fixed in commit a1b2c3d (see 9fceb02e1a7c).",
    "Request id 550e8400-e29b-41d4-a716-446655440000 failed.",
    "Edit /usr/local/lib/python3.11/site-packages/autoskill/learning/redact.py",
    "Edit C:\\Users\\bob\\Documents\\report_2024_final.docx",
    "Require requests>=2.31.0,<3.0.0 and ^1.2.3 || ~2.0.0.",
    "Closes #1234 and refs GH-5678.",
    "max_tokens=4096, temperature=0.2, top_p=0.95",
    "The password is incorrect, please reset it.",
    "Use a bearer token in the Authorization header.",
    "Set OPENAI_API_KEY=$OPENAI_API_KEY before running.",
    "api_key = os.environ['OPENAI_API_KEY']",
    "password = getpass.getpass(); token = fetch_token(user)",
    "Timestamp 1705312200 and 1705312200000 ms.",
    "Costs $1,234,567.89 per year, +5% growth, -3 dB.",
    "Run `git rebase -i HEAD~3` then `git push --force-with-lease`.",
    "Full sha 3f786850e387550fdab836ed7e6dc881de23001b is a hash.",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "A test named test_redaction_is_idempotent_and_never_raises_on_text.",
    "ClassName AbstractSingletonProxyFactoryBeanConfigurationHolder.",
    "See https://github.com/org/repo/blob/4f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a/README.md",
    "git clone git@github.com:org/repo.git",
    "Retina asset icon@2x.png and @types/node and pkg@1.2.3.",
    "Table: 150 2000 3000 rows per shard.",
    "Score went from 12.5 to 13.75 (+1.25).",
    "Timezone offset 2024-01-15T12:30:00+05:30 and UTC+08:00.",
    "Token count: 12 tokens, key points: 3.",
    "Matrix shape (128, 256, 512) with 1e-5 epsilon.",
    "Chinese: 第3步，处理10000行，版本v2.0.11。",
]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(("kind", "text", "secret"), PLANTED, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(PLANTED)])
def test_planted_secret_is_removed(redactor: Redactor, kind: str, text: str, secret: str) -> None:
    result = redactor.redact(text)
    assert secret not in result.text
    assert f"[REDACTED:{kind}]" in result.text
    assert kind in result.kinds
    for finding in result.findings:
        assert isinstance(finding, Finding)
        assert 0 <= finding.start < finding.end <= len(text)
        assert secret not in repr(finding)


def test_planted_table_covers_every_kind() -> None:
    assert len(PLANTED) >= 25
    assert {k for k, _, _ in PLANTED} == set(KINDS)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_survives(redactor: Redactor, text: str) -> None:
    result = redactor.redact(text)
    assert result.text == text
    assert result.findings == ()
    assert not result


def test_ordinary_table_is_big_enough() -> None:
    assert len(ORDINARY) >= 25


def test_only_the_secret_part_is_replaced(redactor: Redactor) -> None:
    assert redactor.redact("postgres://bob:pw1@db.example.com:5432/x").text == (
        "postgres://[REDACTED:url_credentials]@db.example.com:5432/x"
    )
    assert redactor.redact('{"password": "hunter2", "user": "bob"}').text == (
        '{"password": "[REDACTED:password]", "user": "bob"}'
    )
    assert redactor.redact("Authorization: Bearer abc123def456ghi").text == "Authorization: Bearer [REDACTED:bearer]"


def test_findings_point_into_the_input(redactor: Redactor) -> None:
    text = "mail bob@example.com or call +44 20 7946 0958"
    result = redactor.redact(text)
    spans = {(f.kind, text[f.start : f.end]) for f in result.findings}
    assert spans == {("email", "bob@example.com"), ("phone", "+44 20 7946 0958")}


def test_redact_value_nested(redactor: Redactor) -> None:
    event = {
        "type": "tool_call",
        "input": {"query": "email bob@example.com", "api_key": "abcd1234efgh5678", "password": "x1",
                  "limit": 5, "ratio": 0.5, "flag": True, "none": None},
        "output": ["ok", ("token sk-abcdefghijklmnopqrstu12345", 3)],
        "headers": {"Authorization": "Basic dXNlcjpwYXNz"},
        "max_tokens": 4096,
        "token_count": "12",
    }
    out = redactor.redact_value(event)
    assert out is not event
    assert out["input"]["query"] == "email [REDACTED:email]"
    assert out["input"]["api_key"] == "[REDACTED:password]"
    assert out["input"]["password"] == "[REDACTED:password]"
    assert out["input"]["limit"] == 5 and out["input"]["ratio"] == 0.5 and out["input"]["flag"] is True
    assert out["input"]["none"] is None
    assert out["output"][0] == "ok"
    assert isinstance(out["output"][1], tuple)
    assert out["output"][1] == ("token [REDACTED:api_key]", 3)
    assert out["headers"]["Authorization"] == "[REDACTED:bearer]"
    assert out["max_tokens"] == 4096 and out["token_count"] == "12"
    assert event["input"]["api_key"] == "abcd1234efgh5678"  # the input is not mutated


def test_config_disable_kind() -> None:
    redactor = Redactor.from_config({"kinds": [k for k in KINDS if k != "email"]})
    assert redactor.redact("bob@example.com").text == "bob@example.com"
    assert "[REDACTED:phone]" in redactor.redact("call 555-123-4567").text


def test_config_disabled_redacts_nothing() -> None:
    redactor = Redactor.from_config({"enabled": False})
    assert not redactor.enabled
    assert redactor.redact("password=hunter2").text == "password=hunter2"
    assert redactor.redact_value({"password": "hunter2"}) == {"password": "hunter2"}


def test_config_allow_list() -> None:
    redactor = Redactor.from_config({"allow": ["support@example.com", "+1 800 555 0199"]})
    text = "Mail support@example.com or bob@example.com, call +1 800 555 0199."
    assert redactor.redact(text).text == "Mail support@example.com or [REDACTED:email], call +1 800 555 0199."


def test_config_extra_pattern() -> None:
    redactor = Redactor.from_config({"extra_patterns": {"employee_id": r"EMP-\d{6}",
                                                        "ticket_secret": r"ticket-pin (?P<secret>\d{4})"}})
    result = redactor.redact("EMP-123456 asked, ticket-pin 4821 given")
    assert result.text == "[REDACTED:employee_id] asked, ticket-pin [REDACTED:ticket_secret] given"


@pytest.mark.parametrize(
    "config",
    [{"kinds": ["nope"]}, {"extra_patterns": {"bad": "("}}, {"extra_patterns": {"bad name": "x"}},
     {"unknown": 1}, {"kinds": "email"}, {"allow": "x"}],
)
def test_bad_config_raises(config: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Redactor.from_config(config)


def test_existing_placeholders_are_left_alone(redactor: Redactor) -> None:
    text = "api_key=[REDACTED:api_key] and password: [REDACTED:password]"
    assert redactor.redact(text).text == text
    assert redactor.redact(text).findings == ()


@pytest.mark.parametrize("kind, text, secret", PLANTED[:20] + PLANTED[-12:])
def test_idempotent_on_planted(redactor: Redactor, kind: str, text: str, secret: str) -> None:
    once = redactor.redact(text).text
    again = redactor.redact(once)
    assert again.text == once
    assert again.findings == ()


_ALPHABET = st.sampled_from(
    list("abcXYZ0123456789 -_.:/@+=()[]\"'\n")
    + ["sk-", "password=", "token: ", "Bearer ", "+44 ", "@example.com", "://u:p@", "eyJ", "AKIA", "[REDACTED:x]"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300), st.lists(_ALPHABET, max_size=80).map("".join)))
def test_idempotent_and_total_on_arbitrary_text(text: str) -> None:
    redactor = default_redactor()
    once = redactor.redact(text)
    assert isinstance(once.text, str)
    twice = redactor.redact(once.text)
    assert twice.text == once.text
    for finding in once.findings:
        assert 0 <= finding.start < finding.end <= len(text)


def test_fast_on_100kb(redactor: Redactor) -> None:
    chunk = (
        "Deploy v2.0.11 on 2024-01-15 at 12:30 to localhost:8080; processed 10000 rows (0.95). "
        "Contact bob@example.com or +44 20 7946 0958, password=hunter2, key sk-abcdefghijklmnop12345678. "
        "See /usr/local/lib/python3.11/site-packages and commit a1b2c3d, issue #1234.\n"
    )
    text = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    start = time.perf_counter()
    result = redactor.redact(text)
    elapsed = time.perf_counter() - start
    assert "hunter2" not in result.text and "bob@example.com" not in result.text
    assert elapsed < 2.0


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000, "1" * 100_000, "+1 " * 30_000, "password=" * 10_000, "-----BEGIN PRIVATE KEY-----" + "A" * 90_000,
     "x@" * 40_000, "Bearer " * 12_000, "aB3" * 33_000, "http://" * 12_000 + "u:p@"],
)
def test_no_pathological_slowdown(redactor: Redactor, text: str) -> None:
    start = time.perf_counter()
    redactor.redact(text)
    assert time.perf_counter() - start < 2.0
