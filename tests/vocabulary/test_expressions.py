"""The journey condition language: safe, lenient about missing data, strict about syntax."""

from journeys.vocabulary.expressions import check, evaluate


def test_names_and_syntax_are_checked_before_publishing() -> None:
    assert check('traits.plan == "pro" and properties.total >= 50') is None
    assert "Call is not allowed" in str(check('__import__("os")'))
    assert "unknown name 'foo'" in str(check("foo > 1"))
    assert "attribute '__class__' is not allowed" in str(check("traits.__class__"))


def test_a_condition_that_fails_to_evaluate_is_false_not_an_error() -> None:

    context = {"properties": {"products": [], "total": "n/a"}}
    assert evaluate("properties.products[0].price > 20", context) is False
    assert evaluate("properties.total > 20", context) is False
    assert evaluate("properties.missing.deeper == 1", context) is False
