"""Developer tools the product never imports: demo data (`python -m tools.demo_data`)."""
