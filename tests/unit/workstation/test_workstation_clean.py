"""Neutral names for cleaned copies: nothing of the original name but a plain extension."""

from __future__ import annotations

import pytest

from workstation.clean import neutral_name


class TestNeutralName:
    @pytest.mark.parametrize(
        ("original", "expected"),
        [
            ("3-sober_moth-doc-certificat_medical_Jeanne.pdf", "3-document.pdf"),
            ("3-sober_moth-doc-IMG_2024_Kigali.JPG", "3-image.jpg"),
            ("3-sober_moth-doc-voix.ogg", "3-audio.ogg"),
            ("3-sober_moth-doc-clip.mp4", "3-video.mp4"),
            ("3-sober_moth-doc-notes", "3-document"),
            # An "extension" that is really a name, or too long, is dropped.
            ("3-sober_moth-doc-rapport.Jeanne Mukamana", "3-document"),
            ("3-sober_moth-doc-a.mukamana", "3-document"),
            ("3-sober_moth-doc-a.jeann", "3-document"),
            ("3-sober_moth-doc-run.sh.download", "3-document"),
        ],
    )
    def test_only_number_kind_and_extension_remain(self, original: str, expected: str) -> None:
        """The name keeps the submission number, a kind and the extension only."""
        assert neutral_name(3, original) == expected

    def test_an_item_kind_can_be_given(self) -> None:
        """Custody items name their kind (message, reply) themselves."""
        assert neutral_name(7, "7-sober_moth-msg.txt", "message") == "7-message.txt"
