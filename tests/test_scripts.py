import pytest

from scripts.image_ar_sampling import parse_setting


def test_image_ar_sampling_reads_each_setting_as_typed_fields():
    assert parse_setting("guidance=4.5,guidance_ramp=true") == {"guidance": 4.5, "guidance_ramp": True}
    assert parse_setting("guidance=3, top_k=64,name=cell") == {"guidance": 3, "top_k": 64, "name": "cell"}
    with pytest.raises(SystemExit, match="key=value"):
        parse_setting("guidance")
