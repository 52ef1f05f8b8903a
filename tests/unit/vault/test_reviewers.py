"""Reviewer accounts: argon2id parameters, TOTP replay protection, per-client login budgets,
account management. A migrated SQLite database and a real Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vault.codenames import codename_words
from vault.column_key import COLUMN_KEY_FILE, ColumnKeyFile, bind_column_key
from vault.config import Budget
from vault.db import make_engine, make_session_factory
from vault.errors import AuthenticationError, LoginThrottledError, NotFoundError, TotpReplayError
from vault.migrate import upgrade
from vault.models import AuditEvent, Reviewer, Role
from vault.services import reviewer_login, reviewers
from vault.services.reviewers import (
    AccessDeniedError,
    InvalidUsernameError,
    LastAdminError,
    UsernameTakenError,
)
from vault.throttle import ClientBudget
from vault.transaction import finish, unit_of_work

FAST = reviewers.make_hasher(time_cost=1, memory_cost=8, parallelism=1)
STEP = 30


class CountingHasher(PasswordHasher):
    """A fast hasher that counts verifications (to prove the dummy verify happens)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'reviewers.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    bind_column_key(factory, ColumnKeyFile(tmp_path / COLUMN_KEY_FILE))
    yield factory
    engine.dispose()


@pytest.fixture
def db(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


CLIENT = "client-a"


@pytest.fixture
def budget(redis: Redis) -> ClientBudget:
    return ClientBudget(redis, "reviewer-login", Budget(burst=3, interval_seconds=60))


def _new(db: Session, username: str = "amina", role: Role = Role.ANALYST) -> tuple[Reviewer, str]:
    return reviewers.create_reviewer(db, username, role, hasher=FAST)


def _code(db: Session, reviewer: Reviewer, at: float) -> str:
    return pyotp.TOTP(reviewers.totp_secret(db, reviewer)).at(at)


def _actions(db: Session) -> list[tuple[str, str | None]]:
    return [
        (e.action, e.object_uuid) for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))
    ]


class TestArgon2:
    def test_default_is_rfc9106_low_memory_argon2id(self) -> None:
        """Production hashes use argon2id, 64 MiB, t=3, p=4."""
        hasher = reviewers.DEFAULT_HASHER
        assert (hasher.type.name, hasher.memory_cost, hasher.time_cost, hasher.parallelism) == (
            "ID",
            65536,
            3,
            4,
        )

    def test_create_reviewer_defaults_to_production_cost(self, db: Session) -> None:
        """The CLI's `create_reviewer(db, username, Role.ADMIN)` stores a full-cost hash."""
        reviewer, passphrase = reviewers.create_reviewer(db, "first-admin", Role.ADMIN)
        assert reviewer.passphrase_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert reviewers.DEFAULT_HASHER.verify(reviewer.passphrase_hash, passphrase)
        assert reviewer.role is Role.ADMIN and reviewer.is_active
        uri = reviewers.provisioning_uri(db, reviewer)
        assert uri.startswith("otpauth://totp/BackUp:first-admin?")
        assert f"secret={reviewers.totp_secret(db, reviewer)}" in uri and "issuer=BackUp" in uri

    def test_injected_cost_is_used(self, db: Session) -> None:
        """Cheaper parameters (tests only) show in the stored hash."""
        reviewer, passphrase = _new(db)
        assert reviewer.passphrase_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert passphrase not in reviewer.passphrase_hash

    def test_passphrase_is_seven_diceware_words(self) -> None:
        """Generated passphrases: 7 words from the EFF large list, never repeated."""
        words = set(codename_words())
        phrases = {reviewers.generate_passphrase() for _ in range(20)}
        assert len(phrases) == 20
        for phrase in phrases:
            assert len(phrase.split(" ")) == 7 and set(phrase.split(" ")) <= words

    def test_rehash_on_login_when_cost_changes(self, db: Session, budget: ClientBudget) -> None:
        """A hash made with other parameters is upgraded at the next successful login."""
        reviewer, passphrase = _new(db)
        stronger = reviewers.make_hasher(time_cost=2, memory_cost=16, parallelism=1)
        reviewer_login.authenticate(
            db,
            budget,
            CLIENT,
            "amina",
            passphrase,
            _code(db, reviewer, time.time()),
            hasher=stronger,
        )
        assert reviewer.passphrase_hash.startswith("$argon2id$v=19$m=16,t=2,p=1$")


class TestTotpStep:
    def test_current_previous_and_next_step(self) -> None:
        """Codes of the step before, at and after `at` match, and give their step."""
        secret = pyotp.random_base32()
        totp = pyotp.TOTP(secret)
        now = 1_800_000_015.0
        step = totp.timecode(now)
        for delta in (-1, 0, 1):
            code = totp.at(now + delta * STEP)
            assert reviewer_login.totp_step(secret, code, now) == step + delta

    def test_outside_window_and_malformed(self) -> None:
        """Two steps away, wrong digits, or not six digits: no match."""
        secret = pyotp.random_base32()
        totp = pyotp.TOTP(secret)
        now = 1_800_000_015.0
        assert reviewer_login.totp_step(secret, totp.at(now - 2 * STEP), now) is None
        assert reviewer_login.totp_step(secret, totp.at(now + 2 * STEP), now) is None
        good = totp.at(now)
        wrong = f"{(int(good) + 1) % 1_000_000:06d}"
        for code in (wrong, "", "12345", "1234567", "abcdef", good + "0"):
            assert reviewer_login.totp_step(secret, code, now) is None

    def test_spaces_are_forgiven(self) -> None:
        """'123 456' as authenticator apps display it is accepted."""
        secret = pyotp.random_base32()
        now = 1_800_000_015.0
        code = pyotp.TOTP(secret).at(now)
        assert reviewer_login.totp_step(secret, f" {code[:3]} {code[3:]} ", now) is not None


class TestVerifyTotp:
    def test_step_is_stored_and_replay_refused(self, db: Session) -> None:
        """A code works once; the same code again is a replay."""
        reviewer, _ = _new(db)
        now = time.time()
        step = reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now), at=now)
        db.commit()
        assert (
            reviewer.last_totp_step
            == step
            == pyotp.TOTP(reviewers.totp_secret(db, reviewer)).timecode(now)
        )
        with pytest.raises(TotpReplayError):
            reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now), at=now)

    def test_older_step_refused_after_newer(self, db: Session) -> None:
        """Once the next step's code was used, the current step's code is refused too."""
        reviewer, _ = _new(db)
        now = time.time()
        reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now + STEP), at=now)
        with pytest.raises(TotpReplayError):
            reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now), at=now)
        with pytest.raises(TotpReplayError):
            reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now - STEP), at=now)

    def test_later_step_accepted(self, db: Session) -> None:
        """The following step's code is accepted after the current one."""
        reviewer, _ = _new(db)
        now = time.time()
        first = reviewer_login.verify_totp(db, reviewer, _code(db, reviewer, now), at=now)
        second = reviewer_login.verify_totp(
            db, reviewer, _code(db, reviewer, now + STEP), at=now + STEP
        )
        assert second == first + 1 == reviewer.last_totp_step

    def test_wrong_code_is_not_a_replay(self, db: Session) -> None:
        """A wrong code raises plain AuthenticationError and stores nothing."""
        reviewer, _ = _new(db)
        now = time.time()
        with pytest.raises(AuthenticationError) as info:
            reviewer_login.verify_totp(
                db, reviewer, "000000" if _code(db, reviewer, now) != "000000" else "111111", at=now
            )
        assert not isinstance(info.value, TotpReplayError)
        assert reviewer.last_totp_step == 0

    def test_concurrent_use_of_one_code(self, factory: sessionmaker[Session]) -> None:
        """Two sessions holding the same stale reviewer: only one can use a code."""
        with factory() as setup, unit_of_work(setup):
            reviewer, _ = _new(setup)
            uuid = reviewer.uuid
            secret = reviewers.totp_secret(setup, reviewer)
        now = time.time()
        code = pyotp.TOTP(secret).at(now)
        with factory() as first, factory() as second:
            a = first.scalar(select(Reviewer).where(Reviewer.uuid == uuid))
            b = second.scalar(select(Reviewer).where(Reviewer.uuid == uuid))
            assert a is not None and b is not None
            reviewer_login.verify_totp(first, a, code, at=now)
            first.commit()
            assert b.last_totp_step == 0  # stale in memory: the UPDATE's condition decides
            with pytest.raises(TotpReplayError):
                reviewer_login.verify_totp(second, b, code, at=now)

    def test_reset_totp_gives_new_secret_and_clears_step(self, db: Session) -> None:
        """After a 2FA reset, the old secret's codes fail and the new one's work at once."""
        reviewer, _ = _new(db)
        now = time.time()
        old_code = _code(db, reviewer, now)
        reviewer_login.verify_totp(db, reviewer, old_code, at=now)
        old_secret = reviewers.totp_secret(db, reviewer)
        new_secret = reviewers.reset_totp(db, None, reviewer)
        assert new_secret == reviewers.totp_secret(db, reviewer) != old_secret
        assert reviewer.last_totp_step == 0
        new_code = _code(db, reviewer, now)
        if new_code != old_code:  # 1 in a million: both secrets give the same code
            with pytest.raises(AuthenticationError):
                reviewer_login.verify_totp(db, reviewer, old_code, at=now)
        reviewer_login.verify_totp(db, reviewer, new_code, at=now)


class TestAuthenticate:
    def test_success_records_step_login_and_audit(self, db: Session, budget: ClientBudget) -> None:
        """Right passphrase and code: the reviewer, its step stored, a login event."""
        reviewer, passphrase = _new(db)
        now = time.time()
        found = reviewer_login.authenticate(
            db, budget, CLIENT, " Amina ", passphrase, _code(db, reviewer, now), hasher=FAST, at=now
        )
        assert found.id == reviewer.id and found.last_login_at is not None
        assert found.last_totp_step == pyotp.TOTP(reviewers.totp_secret(db, reviewer)).timecode(now)
        assert ("login", reviewer.uuid) in _actions(db)

    def test_replayed_code_refused_at_login(self, db: Session, budget: ClientBudget) -> None:
        """Logging in twice with one code: the second is a replay."""
        reviewer, passphrase = _new(db)
        now = time.time()
        code = _code(db, reviewer, now)
        reviewer_login.authenticate(
            db, budget, CLIENT, "amina", passphrase, code, hasher=FAST, at=now
        )
        with pytest.raises(TotpReplayError):
            reviewer_login.authenticate(
                db, budget, CLIENT, "amina", passphrase, code, hasher=FAST, at=now
            )

    def test_wrong_passphrase_does_not_consume_the_code(
        self, db: Session, budget: ClientBudget
    ) -> None:
        """A wrong passphrase fails before the code is looked at; the code stays usable."""
        reviewer, passphrase = _new(db)
        now = time.time()
        code = _code(db, reviewer, now)
        with pytest.raises(AuthenticationError) as info:
            reviewer_login.authenticate(
                db, budget, CLIENT, "amina", "wrong " + passphrase, code, hasher=FAST
            )
        assert not isinstance(info.value, TotpReplayError)
        assert reviewer.last_totp_step == 0
        reviewer_login.authenticate(
            db, budget, CLIENT, "amina", passphrase, code, hasher=FAST, at=now
        )

    def test_unknown_username_still_verifies_a_hash(
        self, db: Session, budget: ClientBudget
    ) -> None:
        """No such user: an argon2 verification runs anyway, and the error is the same;
        each failure is audited though the caller's transaction rolls back."""
        reviewer, _ = _new(db)
        db.commit()
        counting = CountingHasher()
        errors: list[type[BaseException]] = []
        for username in ("nobody", "amina"):
            with pytest.raises(AuthenticationError) as info:
                reviewer_login.authenticate(
                    db,
                    budget,
                    CLIENT,
                    username,
                    "not it",
                    _code(db, reviewer, time.time()),
                    hasher=counting,
                )
            finish(db, success=False)  # the caller (a 401 answer) rolls back
            errors.append(type(info.value))
        assert counting.verifications == 2
        assert errors == [AuthenticationError, AuthenticationError]
        assert [a for a, _ in _actions(db)][-2:] == ["login_failed", "login_failed"]

    def test_deactivated_reviewer_refused(self, db: Session, budget: ClientBudget) -> None:
        """Right credentials of a deactivated account: the generic failure."""
        reviewer, passphrase = _new(db)
        reviewers.set_active(db, None, reviewer, False)
        with pytest.raises(AuthenticationError) as info:
            reviewer_login.authenticate(
                db,
                budget,
                CLIENT,
                "amina",
                passphrase,
                _code(db, reviewer, time.time()),
                hasher=FAST,
            )
        assert not isinstance(info.value, TotpReplayError)
        assert reviewer.last_totp_step == 0

    def test_over_budget_client_waits_the_account_stays_open(
        self, db: Session, budget: ClientBudget
    ) -> None:
        """A client that failed its budget away is refused, even with the right
        credentials; the named account is not locked: another client gets in."""
        reviewer, passphrase = _new(db)
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                reviewer_login.authenticate(
                    db, budget, CLIENT, "amina", "wrong", "000000", hasher=FAST
                )
        now = time.time()
        with pytest.raises(LoginThrottledError) as info:
            reviewer_login.authenticate(
                db, budget, CLIENT, "AMINA", passphrase, _code(db, reviewer, now), hasher=FAST
            )
        assert 0 < info.value.retry_after <= 60
        found = reviewer_login.authenticate(
            db,
            budget,
            "client-b",
            "amina",
            passphrase,
            _code(db, reviewer, now),
            hasher=FAST,
            at=now,
        )
        assert found.id == reviewer.id

    def test_any_username_spends_the_same_client_budget(
        self, db: Session, budget: ClientBudget
    ) -> None:
        """Spreading guesses over usernames does not give a client more attempts."""
        for name in ("ghost", "phantom", "spirit"):
            with pytest.raises(AuthenticationError):
                reviewer_login.authenticate(db, budget, CLIENT, name, "x", "000000", hasher=FAST)
        with pytest.raises(LoginThrottledError):
            reviewer_login.authenticate(db, budget, CLIENT, "someone", "x", "000000", hasher=FAST)

    def test_throttled_attempts_do_not_hash(self, db: Session, budget: ClientBudget) -> None:
        """Once throttled, no argon2 work and no audit write is done (no amplification)."""
        counting = CountingHasher()
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                reviewer_login.authenticate(
                    db, budget, CLIENT, "ghost", "x", "000000", hasher=counting
                )
        events = len(_actions(db))
        for _ in range(20):
            with pytest.raises(LoginThrottledError):
                reviewer_login.authenticate(
                    db, budget, CLIENT, "ghost", "x", "000000", hasher=counting
                )
        assert counting.verifications == 3
        assert len(_actions(db)) == events

    @pytest.mark.parametrize(
        ("username", "passphrase", "code"),
        [("a", "x", "000000"), ("bad name!", "x", "000000"), ("amina", "", "000000"),
         ("amina", "x", "12345"), ("amina", "x", "abcdef")],
    )  # fmt: skip
    def test_malformed_attempts_cost_nothing(
        self, db: Session, budget: ClientBudget, username: str, passphrase: str, code: str
    ) -> None:
        """No possible username, no passphrase, not a 6-digit code: refused before the
        budget, any hashing or any database work."""
        _new(db)
        counting = CountingHasher()
        events = len(_actions(db))
        for _ in range(5):
            with pytest.raises(AuthenticationError):
                reviewer_login.authenticate(
                    db, budget, CLIENT, username, passphrase, code, hasher=counting
                )
        assert counting.verifications == 0
        assert len(_actions(db)) == events
        # The budget is untouched: three real attempts are still allowed.
        for _ in range(3):
            with pytest.raises(AuthenticationError):
                reviewer_login.authenticate(db, budget, CLIENT, "amina", "x", "000000", hasher=FAST)

    def test_session_loading_follows_credentials(self, db: Session) -> None:
        """A session's stamp stops matching after a reset; deactivation drops it too."""
        reviewer, _ = _new(db)
        stamp = reviewers.credential_stamp(reviewer)
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, stamp) is reviewer
        reviewers.reset_passphrase(db, None, reviewer, hasher=FAST)
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, stamp) is None
        stamp = reviewers.credential_stamp(reviewer)
        reviewers.reset_totp(db, None, reviewer)
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, stamp) is None
        stamp = reviewers.credential_stamp(reviewer)
        reviewers.set_active(db, None, reviewer, False)
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, stamp) is None
        # Reactivation does not bring the old stamp back.
        reviewers.set_active(db, None, reviewer, True)
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, stamp) is None
        fresh = reviewers.credential_stamp(reviewer)
        assert fresh != stamp
        assert reviewer_login.load_session_reviewer(db, reviewer.uuid, fresh) is reviewer


class TestAccountManagement:
    def test_usernames_normalised_validated_unique(self, db: Session) -> None:
        """Usernames are lower-cased; bad ones and duplicates are refused."""
        reviewer, _ = _new(db, "  Amina.K ")
        assert reviewer.username == "amina.k"
        for bad in ("ab", "x" * 65, "amina k", "-lead", "émile", ""):
            with pytest.raises(InvalidUsernameError):
                _new(db, bad)
        with pytest.raises(UsernameTakenError):
            _new(db, "AMINA.K")

    def test_only_admins_manage_accounts(self, db: Session) -> None:
        """Analysts and partners cannot create, list, reset or change anyone."""
        admin, _ = _new(db, "boss", Role.ADMIN)
        analyst, _ = _new(db, "ana")
        partner, _ = _new(db, "pat", Role.PARTNER)
        for actor in (analyst, partner):
            calls: list[Any] = [
                lambda a=actor: reviewers.create_reviewer(db, "newbie", Role.ADMIN, actor=a),
                lambda a=actor: reviewers.list_reviewers(db, a),
                lambda a=actor: reviewers.reset_passphrase(db, a, admin, hasher=FAST),
                lambda a=actor: reviewers.reset_totp(db, a, admin),
                lambda a=actor: reviewers.set_active(db, a, admin, False),
                lambda a=actor: reviewers.change_role(db, a, a, Role.ADMIN),
            ]
            for call in calls:
                with pytest.raises(AccessDeniedError):
                    call()
        assert analyst.role is Role.ANALYST and admin.is_active

    def test_last_admin_cannot_be_removed(self, db: Session) -> None:
        """Deactivating or demoting the only active admin is refused."""
        admin, _ = _new(db, "boss", Role.ADMIN)
        with pytest.raises(LastAdminError):
            reviewers.set_active(db, admin, admin, False)
        with pytest.raises(LastAdminError):
            reviewers.change_role(db, admin, admin, Role.ANALYST)
        other, _ = _new(db, "boss2", Role.ADMIN)
        reviewers.change_role(db, admin, other, Role.PARTNER)
        assert other.role is Role.PARTNER
        reviewers.change_role(db, admin, other, Role.ADMIN)
        reviewers.set_active(db, admin, admin, False)
        assert not admin.is_active

    def test_changes_are_audited_without_content(self, db: Session) -> None:
        """Each change leaves an event naming the actor and the account, nothing else."""
        admin, _ = _new(db, "boss", Role.ADMIN)
        target, old = reviewers.create_reviewer(db, "ana", Role.ANALYST, actor=admin, hasher=FAST)
        new = reviewers.reset_passphrase(db, admin, target, hasher=FAST)
        assert new != old and FAST.verify(target.passphrase_hash, new)
        reviewers.reset_totp(db, admin, target)
        reviewers.change_role(db, admin, target, Role.PARTNER)
        reviewers.set_active(db, admin, target, False)
        reviewers.set_active(db, admin, target, True)
        events = db.scalars(select(AuditEvent).where(AuditEvent.actor_id == admin.id)).all()
        assert [e.action for e in events] == [
            "reviewer_created",
            "passphrase_reset",
            "totp_reset",
            "role_changed",
            "reviewer_deactivated",
            "reviewer_activated",
        ]
        assert {(e.object_type, e.object_uuid) for e in events} == {("reviewer", target.uuid)}

    def test_get_reviewer_unknown(self, db: Session) -> None:
        """An unknown uuid is NotFoundError."""
        with pytest.raises(NotFoundError):
            reviewers.get_reviewer(db, None, "00000000-0000-0000-0000-000000000000")

    def test_partners_and_inactive_cannot_read_sources(self, db: Session) -> None:
        """Least privilege: only active analysts and admins read sources."""
        analyst, _ = _new(db, "ana")
        admin, _ = _new(db, "boss", Role.ADMIN)
        partner, _ = _new(db, "pat", Role.PARTNER)
        assert reviewers.can_read_sources(analyst) and reviewers.can_read_sources(admin)
        assert not reviewers.can_read_sources(partner)
        reviewers.set_active(db, None, analyst, False)
        assert not reviewers.can_read_sources(analyst)
