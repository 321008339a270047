"""What the benchmark reports (disk-report.py, net-report.py) share."""


def ratio(a, b):
    """a / b with two decimals, or n/a when either is missing."""
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def table(head, rows):
    """Prints a Markdown table."""
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
